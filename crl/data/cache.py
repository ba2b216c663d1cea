"""The cache folder shared by the dashboard and the data layer: CRL_CACHE, else ~/.cache/crl.

Uploaded cohorts, generated presets and decoded image modalities live there (crl.data.image_store).
Presets and decoded images are rebuilt when needed; an upload is a copy of the user's files, uploaded again if
deleted.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The cache folder (not created here)."""
    return Path(os.environ.get("CRL_CACHE", Path.home() / ".cache" / "crl"))

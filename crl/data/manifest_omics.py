"""The manifest keys of AnnData (.h5ad) and MuData (.h5mu) sources: `layer` and `modality` on a tabular modality.

Kept apart from manifest.py so the omics rules sit in one place; the loader (crl/data/loaders/anndata.py)
checks the file's contents (which layers and modalities exist), this module only what the manifest says.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath
from typing import Any

OMICS_SUFFIXES = (".h5ad", ".h5mu")
OMICS_KEYS = ("layer", "modality")


def is_omics_path(path: str | PurePath) -> bool:
    """True for a path read as AnnData/MuData (by its suffix, as .csv and .parquet are)."""
    return PurePath(path).suffix.lower() in OMICS_SUFFIXES


def check_omics_keys(path: Any, table: dict[str, Any], report: Callable[..., None]) -> bool:
    """Report a `layer` or `modality` that is not a name (an error) or that names nothing because the source is
    not an .h5ad/.h5mu file (a warning: it is ignored). Returns False when the modality cannot be used."""
    usable = True
    for key in OMICS_KEYS:
        if key not in table:
            continue
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            report(
                "error",
                "bad_value",
                f"'{key}' must be a name in the AnnData/MuData file, not {value!r}.",
                f'write {key} = "..." (e.g. {key} = "{"counts" if key == "layer" else "rna"}"), or leave it out.',
            )
            usable = False
        elif isinstance(path, str) and not is_omics_path(path):
            report(
                "warning",
                "unknown_key",
                f"'{key}' applies only to AnnData (.h5ad) and MuData (.h5mu) files, not to {path!r}; ignored.",
                f"remove {key} = {value!r}, or point path at the .h5ad/.h5mu file.",
            )
    return usable

"""Names from what the user typed or uploaded: the cohort's folder, a modality's name, a source's file name."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

from crl.data.manifest import MODALITY_NAME_RULE, modality_name_problem
from crl.data.upload.choices import MAX_NAME_LENGTH, UploadError


def folder_name(name: str) -> str:
    """A safe folder name for a cohort name the user typed: letters and digits of any script, '-' and '_' only.

    Accents are dropped ('Café' -> 'cafe'); letters without an ASCII form are kept ('日本' -> '日本'), since a
    folder name may hold them on every system. Separators, dots, spaces and control characters become '-'.
    """
    decomposed = unicodedata.normalize("NFKD", str(name))
    text = unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))
    slug = re.sub(r"[^\w-]+", "-", text.lower()).strip("-_")[:MAX_NAME_LENGTH].strip("-_")
    if not slug:
        raise UploadError(
            f"the cohort name {name!r} has no letters or digits to name its folder with; "
            "type a name such as 'eye-study-2024'."
        )
    return slug


def suggested_modality(filename: str) -> str:
    """A modality name from a file name: `Fundus Left.zip` -> `fundus_left`."""
    stem = PurePosixPath(str(filename).replace("\\", "/")).stem
    slug = re.sub(
        r"[^0-9A-Za-z]+", "_", unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    )
    slug = slug.strip("_").lower()[:MAX_NAME_LENGTH]
    return slug if slug and not slug[0].isdigit() else f"m_{slug}" if slug else "modality"


def check_modality_name(name: str) -> str:
    """The name stripped, or UploadError: the manifest's one rule for modality names (it names latents too)."""
    clean = str(name).strip()
    if not clean:
        raise UploadError("a modality has no name; give each uploaded file a short name such as 'labs'.")
    problem = modality_name_problem(clean)
    if problem:
        raise UploadError(f"{problem}; use {MODALITY_NAME_RULE} (e.g. 'fundus_left').")
    return clean


def unique_file_stem(name: str, used: set[str]) -> str:
    """A file name stem for `name` not yet in `used` (which it joins): ASCII letters, digits, '-' and '_'."""
    base = re.sub(
        r"[^A-Za-z0-9_-]+", "_", unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    )
    base = base.strip("_").lower() or "modality"
    stem, k = base, 2
    while stem in used:
        stem, k = f"{base}_{k}", k + 1
    used.add(stem)
    return stem

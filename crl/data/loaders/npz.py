""".npz archives of named arrays, as time-series and image modalities may be given."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crl.data.loaders.common import Found, as_str_ids, listing


def read_npz(path: Path, required: tuple[str, ...], optional: tuple[str, ...], found: Found) -> dict:
    """The named arrays of an .npz archive (never unpickles: object arrays are refused)."""
    with np.load(path, allow_pickle=False) as archive:
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise found.fatal(
                "bad_npz",
                "is a single .npy array, not an .npz archive of named arrays.",
                f"save it with numpy.savez(path, {', '.join(f'{k}=...' for k in required)}).",
            )
        missing = [k for k in required if k not in archive.files]
        if missing:
            raise found.fatal(
                "bad_npz",
                f"has arrays {listing(archive.files, 8) or 'none'}; it needs {', '.join(map(repr, required))} "
                f"(missing {', '.join(map(repr, missing))}).",
                f"save it with numpy.savez(path, {', '.join(f'{k}=...' for k in required)}).",
            )
        return {k: archive[k] for k in (*required, *optional) if k in archive.files}


def npz_ids(ids: np.ndarray, n: int, found: Found) -> np.ndarray:
    if ids.ndim != 1 or len(ids) != n:
        raise found.fatal(
            "bad_npz",
            f"'ids' has shape {ids.shape} but the data has {n} subjects.",
            "store one ID per subject: 'ids' of shape (N,) in the same order as the data.",
        )
    if ids.dtype.kind == "S":
        ids = np.char.decode(ids, "utf-8")
    return as_str_ids(ids)

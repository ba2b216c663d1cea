"""Publishing a cohort folder whole: it is assembled in a hidden staging folder, then renamed into place."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


def replace_folder(staging: Path, out: Path) -> None:
    """Rename `staging` to `out`, moving an existing `out` aside first, so `out` always names a complete
    folder or nothing (a reader never sees a half-written cohort)."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        old.rmdir()
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out)

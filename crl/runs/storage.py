"""Plain words for a file-system error (full disk, read-only folder, unreadable file), and the temporary files a
killed atomic write leaves behind in a run folder.

Writers and commands turn an OSError into a RunError with `storage_error`, adding what to do next; the CLI's
last resort (crl/cli/main.py) words any other OSError with `describe_os_error`, so no command ends in a traceback.
"""

from __future__ import annotations

import errno
import os
import re
import time
from pathlib import Path

from crl.errors import RunError
from crl.runs.sparsity_path import PATH_DIR

FULL = (errno.ENOSPC, errno.EDQUOT)
READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)
# What crl.runs.files.atomic_write's tempfile.mkstemp names its temporary files: ".<name>.<8 characters>.tmp".
TEMP_FILE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
# When this process loaded crl: a temporary file older than this is no write of ours still under way.
PROCESS_STARTED = time.time()


def is_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in FULL


def is_read_only(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in READ_ONLY


def describe_os_error(error: OSError) -> str:
    """What went wrong, in plain words, naming the file when the error does."""
    where = f" ({error.filename})" if error.filename else ""
    if error.errno in FULL:
        return f"the disk is full{where}"
    if error.errno == errno.EROFS:
        return f"the folder is on a read-only file system{where}"
    if error.errno in READ_ONLY:
        return f"the folder is read-only or belongs to another user{where}"
    if error.errno == errno.ENOENT:
        return f"a file or folder was missing{where}: it was moved or deleted meanwhile"
    return f"{error.strerror or error}{where}"


def storage_error(error: OSError, hint: str = "") -> RunError:
    """A RunError saying why the file system refused (`describe_os_error`), then `hint`: what to do now."""
    return RunError(describe_os_error(error) + (f": {hint}" if hint else ""))


def remove_stale_temp_files(run_dir: Path | str) -> list[Path]:
    """Remove what killed atomic writes left in a run folder (and its sparsity levels): hidden files named as
    atomic_write names them, last written before this process started. Returns the files removed."""
    run_dir = Path(run_dir)
    removed = []
    levels = run_dir / PATH_DIR
    for folder in [run_dir, levels, *sorted(p for p in levels.glob("*") if p.is_dir())]:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if not TEMP_FILE.match(entry.name):
                continue
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < PROCESS_STARTED:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            except OSError:
                continue  # gone already, or not ours to remove: leave it
    return removed

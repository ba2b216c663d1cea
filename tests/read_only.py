"""Folders made read-only for one test, as a read-only mount or another user's folder would be.

A normal user gets a real `chmod a-w`. Root writes through permissions, so for root the calls that write
(open for writing, mkdir, rename, replace, unlink, rmdir, rmtree, access for writing) are refused with EACCES
inside the folders, where the kernel would refuse them to a user without write permission.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
import stat
from pathlib import Path

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _inside(path, roots: list[Path]) -> bool:
    if isinstance(path, int):
        return False
    try:
        target = Path(os.fsdecode(path)).resolve()
    except (TypeError, ValueError):
        return False
    return any(target == root or root in target.parents for root in roots)


def _refused(path) -> PermissionError:
    return PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))


def _chmod_tree(roots: list[Path], writable: bool) -> None:
    for root in roots:
        for path in [root, *root.rglob("*")]:
            mode = path.stat().st_mode
            path.chmod(
                mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
            )


def _emulate(monkeypatch, roots: list[Path]) -> None:
    real_open, real_os_open, real_access = builtins.open, os.open, os.access

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and _inside(file, roots):
            raise _refused(file)
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if flags & WRITE_FLAGS and kwargs.get("dir_fd") is None and _inside(path, roots):
            raise _refused(path)
        return real_os_open(path, flags, *args, **kwargs)

    def guarded_access(path, mode, *args, **kwargs):
        if mode & os.W_OK and _inside(path, roots):
            return False
        return real_access(path, mode, *args, **kwargs)

    def guard(function, *positions):
        def guarded(*args, **kwargs):
            for k in positions:
                if k < len(args) and kwargs.get("dir_fd") is None and _inside(args[k], roots):
                    raise _refused(args[k])
            return function(*args, **kwargs)

        return guarded

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(os, "access", guarded_access)
    for name, positions in (("mkdir", (0,)), ("rename", (0, 1)), ("replace", (0, 1)), ("unlink", (0,))):
        monkeypatch.setattr(os, name, guard(getattr(os, name), *positions))
    monkeypatch.setattr(os, "remove", os.unlink)
    monkeypatch.setattr(os, "rmdir", guard(os.rmdir, 0))
    monkeypatch.setattr(shutil, "rmtree", guard(shutil.rmtree, 0))


def read_only_maker(monkeypatch, request):
    """For a test's `read_only` fixture: `read_only(*folders)` makes the folders and everything in them
    unwritable until the test ends."""

    def make(*folders: Path) -> None:
        roots = [Path(f).resolve() for f in folders]
        if os.geteuid() == 0:
            _emulate(monkeypatch, roots)
        else:
            _chmod_tree(roots, writable=False)
            request.addfinalizer(lambda: _chmod_tree(roots, writable=True))

    return make

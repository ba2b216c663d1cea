"""The header of a .npy stream (an .npz member): its shape, order and dtype, read without any of its data."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np


def read_npy_header(stream: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype] | None:
    """(shape, fortran_order, dtype), leaving `stream` at the first data byte; None for a format version numpy's
    public readers do not cover (the caller then loads the array and checks it)."""
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        return None
    return tuple(shape), bool(fortran), dtype

"""Rows of a .npy matrix read with pread: the few rows a question needs, and no more.

Reading rows through a memory map maps into the process every page the kernel faults in
around them (64 KB at a time, from the page cache), and a server that reads a few scattered
rows per question ends up holding the whole file as its own memory: 1.5 GB of vectors at a
million passages, after enough questions. Rows read with pread come through the same page
cache, which the kernel may drop, but only the copies count against the process.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.lib import format as npy


class NpyRows:
    """A 2-D C-ordered .npy file, read a row or a run of rows at a time; thread-safe."""

    def __init__(self, path: Path) -> None:
        """Raises OSError or ValueError when the file is missing or not such a matrix."""
        with path.open("rb") as f:
            version = npy.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = npy.read_array_header_2_0(f)
            self._offset = f.tell()
        if fortran or len(shape) != 2 or dtype.hasobject:
            raise ValueError(f"{path} is not a C-ordered matrix")
        self.shape: tuple[int, int] = shape
        self.dtype: np.dtype = dtype
        self._row_bytes = shape[1] * dtype.itemsize
        self._path = path
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def take(self, rows: Sequence[int]) -> np.ndarray:
        """These rows, in this order."""
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        for at, row in enumerate(rows):
            self._read(out[at : at + 1], row)
        return out

    def span(self, first: int, end: int) -> np.ndarray:
        """Rows first..end-1, read at once."""
        out = np.empty((max(end - first, 0), self.shape[1]), dtype=self.dtype)
        self._read(out, first)
        return out

    def _read(self, out: np.ndarray, first: int) -> None:
        if not out.size:
            return
        if not 0 <= first <= self.shape[0] - len(out):
            raise IndexError(f"rows {first}..{first + len(out)} of {self.shape[0]}")
        wanted = out.nbytes
        done = os.preadv(self._fd, [out], self._offset + first * self._row_bytes)
        if done != wanted:
            raise OSError(f"{self._path}: read {done} of {wanted} bytes (truncated?)")

"""Keep freed memory in the process instead of returning it to the kernel after every batch (glibc only).

glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MiB, the top of its dynamic range)
with a fresh ``mmap`` and gives it back with ``munmap`` on ``free``; below it, a free heap top above the trim
threshold is returned as well. Tensors of that size are the normal case here: one LeNet-5 activation of a
2,048-image batch is 38 MB, so every forward pass, gradient pass and Hessian-vector product over data in
chunks maps fresh pages and takes a page fault on each 4 KiB of them. Measured on the 2-core machine (LeNet-5,
SGD steps at batch 2,048, one thread): 5.0 s of CPU per 15 steps, 2.8 s of it system time and 1.5 M page
faults, against 2.1 s and 0.01 s (13 k faults) after :func:`tune_allocator` (``bench/bench_allocator.py``).
`make reproduce` spent 21 % of its CPU time in the kernel before this.

:func:`tune_allocator` raises the mmap threshold to :data:`MMAP_THRESHOLD` and the trim threshold to
:data:`TRIM_THRESHOLD` with ``mallopt``: freed blocks stay in the heap for the next batch. The cost is that the
process keeps its peak heap until it exits (resident memory does not shrink after a large pass). The
``hessianlab`` command and its worker processes (local pool, Ray, Slurm) call it at start; library users may
call it once in their own scripts. It changes no numbers: PyTorch aligns its buffers itself, so only where the
pages come from differs. Set ``HESSIANLAB_DEFAULT_MALLOC=1`` to leave ``malloc`` as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "OPT_OUT", "tune_allocator"]

MMAP_THRESHOLD = 1 << 30
"""Blocks above 1 GiB are still mapped (and unmapped) one by one."""
TRIM_THRESHOLD = (1 << 31) - 1
"""Free heap top kept before any is returned to the kernel (the largest value ``mallopt`` takes)."""
OPT_OUT = "HESSIANLAB_DEFAULT_MALLOC"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (see the module docstring); idempotent.

    Returns:
        ``True`` when both settings were applied; ``False`` off Linux, without glibc's ``mallopt`` (musl
        accepts the call and ignores it, returning 0), or when ``$HESSIANLAB_DEFAULT_MALLOC`` is ``1``.
    """
    if os.environ.get(OPT_OUT) == "1" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1

"""Deterministic identifiers built as Arrow strings in bulk (no per-row Python)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def hex_ids(rng: np.random.Generator, n: int, nbytes: int, prefix: str = "") -> pa.Array:
    """``n`` random lower-case hex strings of ``2 * nbytes`` chars (trace ids: 16, span ids: 8)."""
    width = 2 * nbytes
    data = rng.bytes(n * nbytes).hex().encode()
    offsets = np.arange(n + 1, dtype=np.int32) * width
    ids = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    return pc.binary_join_element_wise(prefix, ids, "") if prefix else ids


def numbered(prefix: str, numbers: np.ndarray) -> pa.Array:
    """Business keys such as ``SHP-1000001`` from integers."""
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers, pa.int64()), pa.string()), "")

"""The protocol's tensor datatypes and their NumPy equivalents."""

from __future__ import annotations

import numpy as np

from service.errors import BadRequest

# BF16 has no NumPy dtype; it is refused with the list of what is accepted.
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),  # each element a bytes object
}
_NAMES = {dtype: name for name, dtype in DATATYPES.items()}


def to_numpy(datatype: str) -> np.dtype:
    """The NumPy dtype of a protocol datatype, or a 400 listing the accepted ones."""
    try:
        return DATATYPES[datatype]
    except KeyError:
        raise BadRequest(f"datatype {datatype!r} is not supported; supported: {', '.join(DATATYPES)}") from None


def from_numpy(dtype: np.dtype | str) -> str:
    """The protocol datatype of a NumPy dtype (or a manifest dtype string such as 'float32')."""
    dtype = np.dtype(dtype)
    if dtype.kind in "SUO":
        return "BYTES"
    return _NAMES[dtype]

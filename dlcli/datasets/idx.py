"""MNIST and Fashion-MNIST in their original IDX files (LeCun's format), four `.gz` files each.

    read_idx(path)          -> the array an IDX file holds, e.g. uint8 (60000, 28, 28)
    load_idx_set(name, dir) -> ImageData: uint8 (70000, 1, 28, 28), the official 60,000
                               training images first, then the 10,000 test images

An IDX file: two zero bytes, a type byte (0x08 unsigned byte, 0x09 signed byte, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, each dimension as a
big-endian uint32, then the values in C order, big-endian. Images are magic 0x00000803, labels
0x00000801. numpy is imported inside functions.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from dlcli.datasets.registry import IDX_FILES
from dlcli.datasets.types import ImageData
from dlcli.errors import InputError
from dlcli.files import open_binary, read_errors

if TYPE_CHECKING:
    import numpy as np

DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


MAX_IDX_BYTES = 1 << 30  # MNIST's largest file holds 47 MB; 1 GiB refuses a decompression bomb


def read_idx(path: Path) -> np.ndarray:
    """The array an IDX file holds; only the bytes its header announces are read (at most
    MAX_IDX_BYTES), so a .gz that inflates without end is refused, not read into memory."""
    import numpy as np

    try:
        with open_binary(path) as fh:
            data = fh.read(4)
            bad_type = len(data) < 4 or data[2] not in DTYPES or not 1 <= data[3] <= 4
            if bad_type or data[:2] != b"\0\0":
                magic = data[:4].hex() or "missing"
                raise InputError(f"{path}: not an IDX file (magic number {magic})")
            ndim = data[3]
            data += fh.read(4 * ndim)
            header = 4 + 4 * ndim
            if len(data) < header:
                raise InputError(f"{path}: IDX header cut short")
            dims = struct.unpack(f">{ndim}I", data[4:header])
            dtype = np.dtype(DTYPES[data[2]])
            count = math.prod(dims)
            need = count * dtype.itemsize
            if need > MAX_IDX_BYTES:
                raise InputError(
                    f"{path}: IDX header announces {'x'.join(map(str, dims))} values "
                    f"({need} bytes), more than the {MAX_IDX_BYTES} bytes dlcli reads"
                )
            data += fh.read(need + 1)  # one byte more: a longer file is caught below
    except read_errors() as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if len(data) != header + need:
        got = f"{len(data)} bytes" if len(data) <= header + need else "more bytes"
        raise InputError(
            f"{path}: IDX header announces {'x'.join(map(str, dims))} values "
            f"({header + need} bytes), the file has {got}"
        )
    return np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)


def _pair(folder: Path, images: str, labels: str, classes: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx(folder / images), read_idx(folder / labels)
    if x.ndim != 3 or x.dtype.kind != "u" or y.ndim != 1 or len(x) != len(y):
        raise InputError(
            f"{folder}: {images} holds {x.shape} {x.dtype} and {labels} {y.shape}; expected "
            "N unsigned-byte images and N labels"
        )
    if len(y) and int(y.max()) >= classes:
        raise InputError(f"{folder / labels}: label {int(y.max())} is not below {classes}")
    return x, y


def load_idx_set(name: str, folder: Path, classes: int = 10) -> ImageData:
    import numpy as np

    (xtr, ytr), (xte, yte) = (_pair(folder, *files, classes) for files in IDX_FILES)
    x = np.concatenate([xtr, xte])[:, None]  # (N, 1, H, W)
    y = np.concatenate([ytr, yte]).astype(np.int64)
    names = list(FASHION_CLASSES) if name == "fashion-mnist" else [str(i) for i in range(classes)]
    return ImageData(name, x, y, names, len(xtr))

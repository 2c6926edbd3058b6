"""Arrays: `.npz` with arrays `x` (N, F), (N, H, W) or (N, C, H, W) and `y` (N,) (and optionally
`test`, the rows of an official test set), or a `.npy` of x with its labels beside it in
NAME.labels.npy. x is memory-mapped where it is stored
uncompressed (a set larger than memory trains); uint8 images stay pixels. Never unpickles."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dlcli.training.data.preprocess as preprocess
from dlcli.errors import InputError
from dlcli.files import check_regular, read_errors
from dlcli.training.config import DataConfig
from dlcli.training.data.dataset import Dataset, canonical_label, class_names_of, encode_labels
from dlcli.training.data.kinds import InputKind, RawInputs, Trained, check_shape

if TYPE_CHECKING:
    import numpy as np


def read_npz(path: Path, need_y: bool = True) -> tuple[np.ndarray, list[str] | np.ndarray | None]:
    """(x (N, ...), labels as strings or None) from an .npz with arrays x and y, or from a .npy
    of x (labels, if any, in NAME.labels.npy beside it). A 2-D y (N, T) is T regression targets
    and comes back as a float32 array.

    x comes back as stored where the loop converts it per batch (`stored_per_batch`): uint8
    images (N, [C,] H, W) in memory, and any numeric x that can be memory-mapped (a .npy, or a
    member of an .npz written uncompressed by `np.savez`), so a set larger than memory trains.
    Other arrays come back as float32. (N, H, W) gets a channel axis: (N, 1, H, W). Never
    unpickles.
    """
    import numpy as np

    x, y = _load_arrays(path, need_y)
    if need_y and y is None:
        raise InputError(f"{path}: no array 'y' with the labels")
    if x.dtype.kind not in "biuf":
        raise InputError(f"{path}: array 'x' must be numeric, not {x.dtype}")
    if x.ndim < 2 or x.ndim > 4 or x.shape[0] == 0:
        raise InputError(
            f"{path}: array 'x' has shape {x.shape}; expected (N, F), (N, H, W) or (N, C, H, W) "
            "with N >= 1"
        )
    if npz_pixel_max(x) is None and not isinstance(x, np.memmap):
        x = x.astype(np.float32)
    if x.dtype.kind == "f":
        _check_finite(x, path)
    labels: list[str] | np.ndarray | None = None
    if y is not None:
        targets = y.ndim == 2 and y.dtype.kind in "iuf" and y.shape[1] >= 1  # (N, T) numbers
        if not (y.ndim == 1 or targets) or len(y) != len(x):
            raise InputError(
                f"{path}: array 'y' has shape {y.shape}; expected ({len(x)},) labels or "
                f"({len(x)}, T) regression targets"
            )
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise InputError(
                f"{path}: array 'y' has a NaN label at index {int(np.argmax(~np.isfinite(y)))}"
            )
        if targets:
            labels = y.astype(np.float32)  # (N, T): T targets, read as numbers
        else:
            labels = [canonical_label(str(v)) for v in y.tolist()]
    return (x[:, None] if x.ndim == 3 else x), labels


def _load_arrays(path: Path, need_y: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, y or None) of an .npz (x memory-mapped where stored uncompressed) or of a .npy with
    its NAME.labels.npy; never unpickles, every failure an InputError naming the file."""
    import zipfile

    import numpy as np

    check_regular(path, "data file")
    unreadable: tuple[type[BaseException], ...] = (ValueError, zipfile.BadZipFile, *read_errors())
    try:
        if path.suffix.lower() == ".npy":
            x = np.load(path, mmap_mode="r", allow_pickle=False)
            labels_path = path.with_name(path.name[: -len(".npy")] + ".labels.npy")
            y = np.load(labels_path, allow_pickle=False) if labels_path.exists() else None
            if need_y and y is None:
                raise InputError(
                    f"{path}: no labels: save them beside it as {labels_path.name} "
                    "(np.save, one label per row of x)"
                )
        else:
            with np.load(path, allow_pickle=False) as archive:
                if not isinstance(archive, np.lib.npyio.NpzFile):
                    raise InputError(f"{path}: a single .npy array, not an .npz archive of x and y")
                if "x" not in archive.files:
                    raise InputError(
                        f"{path}: no array 'x' (arrays: {', '.join(archive.files) or 'none'})"
                    )
                x = _map_npz_member(path, "x")
                if x is None:
                    x = archive["x"]
                y = archive["y"] if "y" in archive.files else None
    except InputError:
        raise
    except unreadable as exc:
        # numpy's messages advise allow_pickle=True: never (unpickling can run any code)
        reason = str(exc)
        if "Object arrays" in reason:
            raise InputError(
                f"{path}: holds Python objects (pickled data), not plain numeric arrays; "
                "dlcli never unpickles a file (it can run any code): save x and y as numbers"
            ) from None
        if "pickle" in reason:  # neither a zip nor a .npy: numpy would try it as a pickle
            reason = "neither a zip archive nor a .npy array"
        raise InputError(f"{path}: not a readable {path.suffix.lower()} file ({reason})") from None
    return x, y


def npz_pixel_max(x: np.ndarray) -> int | None:
    """255 for uint8 images (N, [C,] H, W) from an .npz/.npy: pixels, scaled to [0, 1] per
    batch as image folders are; None for anything else (features, used as they are)."""
    return 255 if x.dtype.kind == "u" and x.dtype.itemsize == 1 and x.ndim >= 3 else None


def _check_finite(x: np.ndarray, path: Path) -> None:
    """Raise on the first NaN or infinity, reading x in chunks (a memory map stays unread)."""
    import numpy as np

    step = max(1, preprocess.STATS_CHUNK // max(1, math.prod(x.shape[1:])))
    for start in range(0, len(x), step):
        part = np.asarray(x[start : start + step])
        if not np.isfinite(part).all():
            bad = np.argwhere(~np.isfinite(part))[0]
            bad[0] += start
            raise InputError(
                f"{path}: array 'x' has a NaN or infinite value at index {tuple(bad.tolist())}"
            )


def _map_npz_member(path: Path, name: str) -> np.ndarray | None:
    """Member NAME.npy of an .npz as a read-only memory map, if it is stored uncompressed
    (np.savez); None if it is compressed (np.savez_compressed) or empty: then it is read."""
    import struct
    import zipfile

    import numpy as np

    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(f"{name}.npy")
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            return None
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)  # the local file header: its name and extra field precede the data
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            return None
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        fh.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(fh)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(fh)
        offset = fh.tell()
    if dtype.hasobject or math.prod(shape) == 0:
        return None  # object arrays are refused by np.load(allow_pickle=False) with a message
    order: Literal["F", "C"] = "F" if fortran else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)


def load_npz(path: Path) -> Dataset:
    import numpy as np

    x, labels = read_npz(path)
    assert labels is not None
    fixed_test = read_test_rows(path, len(x))
    if isinstance(labels, np.ndarray):  # (N, T) regression targets
        t = labels.shape[1]
        names = ["y"] if t == 1 else [f"y[{i}]" for i in range(t)]
        targets: dict[str, Any] = {"y": labels, "class_names": [], "target_names": names}
    else:
        classes = class_names_of(labels)
        targets = {"y": encode_labels(labels, classes, path), "class_names": classes}
    return Dataset(
        x=x, name=str(path), pixel_max=npz_pixel_max(x), fixed_test=fixed_test, **targets
    )


def read_test_rows(path: Path, n: int) -> np.ndarray | None:
    """An .npz's optional array `test`: the row indices of an official test set, which the
    split keeps as its test part (as the named datasets' own; `dlcli features --data` writes it
    for them). None if there is none."""
    import numpy as np

    if path.suffix.lower() != ".npz":
        return None
    with np.load(path, allow_pickle=False) as archive:
        if "test" not in archive.files:
            return None
        test = archive["test"]
    if test.ndim != 1 or test.dtype.kind not in "iu" or len(test) == 0:
        raise InputError(f"{path}: array 'test' must be the test rows' indices, 1-D integers")
    if int(test.min()) < 0 or int(test.max()) >= n:
        raise InputError(f"{path}: array 'test' has an index outside the {n} rows of x")
    return test.astype(np.int64)


def load(config: DataConfig, source: str, path: Path, seed: int) -> Dataset:
    return load_npz(path)


def labelled(
    trained: Trained, source: str, path: Path, label: str | None
) -> tuple[np.ndarray, list[str]]:
    x, labels = read_npz(path)
    assert labels is not None
    if not isinstance(labels, list):
        raise InputError(f"{path}: array 'y' holds regression targets (N, T), not class labels")
    return x, labels


def inputs(trained: Trained, path: Path) -> RawInputs:
    """predict: one input per sample of x (labels, if any, unread)."""
    x, _ = read_npz(path, need_y=False)
    check_shape(trained, x, str(path))
    return RawInputs([f"{path}[{i}]" for i in range(len(x))], x)


KIND = InputKind("npz", load=load, labelled=labelled, inputs=inputs, suffixes=(".npz", ".npy"))

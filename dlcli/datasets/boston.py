"""Boston housing (Harrison and Rubinfeld, 1978; StatLib) from Keras's `boston_housing.npz`.

    x   float64 (506, 13): CRIM, ZN, INDUS, CHAS, NOX, RM, AGE, DIS, RAD, TAX, PTRATIO, B, LSTAT
    y   float64 (506,): MEDV, the median value of owner-occupied homes in $1000s

Keras's `boston_housing.load_data()` shuffles the rows with `np.random.RandomState(113)` and
keeps the first int(506 * 0.8) = 404 for training, the last 102 for testing; `load_boston`
returns the rows in that very order, so its official test set is Keras's `x_test` row for row.
The file is read without pickle (`allow_pickle=False`); an archive whose arrays are not of that
shape is an error naming it. numpy is imported inside the function.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from dlcli.datasets.types import TableData
from dlcli.errors import InputError

FEATURES = ["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO"]
FEATURES += ["B", "LSTAT"]
TARGET = "MEDV"
SEED, TEST_SPLIT = 113, 0.2  # keras.datasets.boston_housing.load_data's defaults
MAX_ROWS = 100_000  # the original has 506: far above it, far below what exhausts memory


def keras_order(n: int) -> tuple[list[int], int]:
    """Keras's shuffled row order for n rows and how many of them train: RandomState(113)
    shuffles arange(n); the first int(n * (1 - 0.2)) rows are the training set."""
    import numpy as np

    indices = np.arange(n)
    np.random.RandomState(SEED).shuffle(indices)
    return indices.tolist(), int(n * (1 - TEST_SPLIT))


def load_boston(path: Path) -> TableData:
    """The 506 rows in Keras's order (training first), features as float64."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files or "y" not in archive.files:
                raise InputError(f"{path}: expected arrays 'x' and 'y' (it has {archive.files})")
            x, y = archive["x"], archive["y"]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz without pickled objects ({exc})") from None
    ok = x.ndim == 2 and x.shape[1] == len(FEATURES) and y.shape == (len(x),)
    ok = ok and 2 <= len(x) <= MAX_ROWS and x.dtype.kind in "fiu" and y.dtype.kind in "fiu"
    if not ok:
        raise InputError(
            f"{path}: expected x of shape (N, {len(FEATURES)}) and y of shape (N,), numbers; "
            f"found x {x.shape} {x.dtype}, y {y.shape} {y.dtype}: this is not boston_housing.npz"
        )
    order, n_train = keras_order(len(x))
    return TableData(
        "boston_housing",
        x[order].astype(np.float64),
        y[order].astype(np.float64),
        list(FEATURES),
        [TARGET],
        n_train,
    )

"""Datasets for every model: built-in data, the user's files, the split and standardisation.

One module serves all model families. A loader returns a `Dataset` whose `x` is either flat
features `(N, F)` or images `(N, C, H, W)`; `to_layout` then gives each model family the layout
it declares (`flat`, `image` or `sequence`), `split_indices` makes the seeded stratified
train/val/test split, and `Standardizer` centres and scales by train statistics (saved with the
model, so `evaluate` and `predict` apply exactly the same preprocessing).

Sources (`DataConfig.source`):
- `digits`: the 8x8 handwritten digits (1,797 images, 10 classes), read from the copy shipped in
  `dlcli/sample_data/` (UCI Optical Recognition of Handwritten Digits, CC BY 4.0).
- `spiral[:n=100,classes=3,noise=0.2]`: synthetic 2-D classes as in the ConvNetJS classify2d demo
  (n points per class).
- `PATH.csv`: a header row, a label column (`label` or `--target NAME`), every other column numeric;
  `.csv.gz`, `.csv.bz2` and `.csv.xz` too (`dlcli.files.open_text`).
- `PATH.npz`: arrays `x` (N,F), (N,H,W) or (N,C,H,W) and `y` (N,).
- `DIR/`: an image folder `DIR/<class>/*.png|jpg`, resized to `image_size` with Pillow.
- `mnist`, `fashion-mnist`, `cifar10`, `cifar100`: the standard sets, downloaded once into the
  cache and read from their original files (`dlcli.datasets`), as float32 in [0, 1] like image
  folders; `Dataset.fixed_test` holds the official test set, which the split keeps as its test
  part (validation is carved from the official training set). `imdb` is text: `train lstm`
  reads it through its own data hook (`dlcli.training.families.lstm.load_data`).

Every problem with the input is an `InputError` naming the file (and line and column where there
is one), raised before anything is written. numpy and Pillow are imported inside functions.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError
from dlcli.files import check_regular, open_binary, open_text, read_errors, strip_compression
from dlcli.training.config import DataConfig  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import numpy as np

LAYOUTS = ("flat", "image", "sequence")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DEFAULT_IMAGE_SIZE = (32, 32)
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
BUILTIN = ("digits", "spiral")
# spiral:n=...,classes=...: bounds far above any lesson, far below what exhausts memory
MAX_SPIRAL_POINTS = 10_000_000
MAX_SPIRAL_CLASSES = 1000


@dataclass
class Dataset:
    """A whole dataset: `x` (N, F) or (N, C, H, W), `y` int64 class indices.

    `x` is float32 in memory, uint8 pixels (`pixel_max` set), or a read-only memory map of any
    numeric dtype (.npy, uncompressed .npz); `stored_per_batch(x)` says which arrays the loop
    converts per batch instead of up front.
    """

    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    name: str
    feature_names: list[str] | None = None  # CSV columns, in order
    image_mode: str | None = None  # image folders: the Pillow mode of the pixels ('L'/'RGB')
    extra: dict[str, Any] = field(default_factory=dict)
    # Train time only: keyword arguments for the family's builder, e.g. lstm's `embeddings`
    # (a pretrained (vocab, dim) table); never saved (the trained weights hold it afterwards).
    init: dict[str, Any] = field(default_factory=dict)
    # Indices of an official test set (the standard datasets): the split's test part is exactly
    # these, whatever --test-fraction says; None: the seeded stratified split decides.
    fixed_test: np.ndarray | None = None
    # Image pixels stored as uint8 (images, the standard sets, .npz of uint8 images): the model
    # sees x / pixel_max (float32), converted per batch on the training device. None: x is
    # features (float32, or any dtype in a memory map) or token ids, never scaled.
    pixel_max: int | None = None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# --- layouts ------------------------------------------------------------------------------------


def to_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """Reshape a batch (N, *sample) to a model family's layout (views, no copies).

    flat:     (N, F)           images are flattened C*H*W
    image:    (N, C, H, W)     needs image data: (N, H, W) gets C=1
    sequence: (N, T, F)        images read row by row: T=H steps of F=C*W values; flat data is
                               one feature per step (N, F, 1)
    """
    if layout == "flat":
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # (not -1: N may be 0)
    if layout == "image":
        if x.ndim == 4:
            return x
        if x.ndim == 3:
            return x[:, None]
        raise InputError(
            "this model needs images (C x H x W): use --data digits, an image folder or an .npz "
            f"whose x has shape (N, H, W) or (N, C, H, W); this data has {x.shape[1]} flat features"
        )
    if layout == "sequence":
        if x.dtype.kind in "iu" and x.ndim == 2:
            return x  # token ids (N, T), padded: the embedding layer reads them
        if x.ndim == 4:
            n, c, h, w = x.shape
            return x.transpose(0, 2, 1, 3).reshape(n, h, c * w)
        if x.ndim == 3:
            return x
        return x.reshape(x.shape[0], math.prod(x.shape[1:]), 1)
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


def layout_shape(sample_shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """The per-sample shape `to_layout` gives for a sample of `sample_shape`."""
    import numpy as np

    return tuple(to_layout(np.zeros((1, *sample_shape), dtype=np.float32), layout).shape[1:])


# --- the split ----------------------------------------------------------------------------------


@dataclass
class Split:
    """Indices into the dataset, each sorted ascending."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_indices(
    y: np.ndarray,
    test_fraction: float,
    val_fraction: float,
    seed: int,
    fixed_test: np.ndarray | None = None,
) -> Split:
    """A deterministic stratified split: each class is shuffled (seeded) and cut in the fractions.

    Per class c with n_c samples: round(n_c * test_fraction) go to test, round(n_c * val_fraction)
    to validation, the rest to train, so every split keeps the class proportions.

    With `fixed_test` (an official test set) the test split is exactly those indices and
    `test_fraction` is not used; validation takes `val_fraction` of the rest, stratified as above.
    """
    import numpy as np

    if fixed_test is not None:
        test = np.unique(np.asarray(fixed_test, dtype=np.int64))
        rest = np.setdiff1d(np.arange(len(y), dtype=np.int64), test)
        inner = split_indices(y[rest], 0.0, val_fraction, seed)
        return Split(rest[inner.train], rest[inner.val], test)
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(len(idx) * test_fraction))
        n_val = int(round(len(idx) * val_fraction))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    split = Split(**{k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in parts.items()})
    if len(split.train) == 0:
        raise InputError(f"{len(y)} samples leave none for training; use smaller fractions")
    for part, fraction in (("test", test_fraction), ("validation", val_fraction)):
        if fraction > 0 and len(getattr(split, "val" if part == "validation" else part)) == 0:
            raise InputError(_too_few(y, part, fraction))
    return split


# --- stored arrays --------------------------------------------------------------------------------

STATS_CHUNK = 1 << 20  # values per chunk of the streaming statistics (8 MiB of float64)


def stored_per_batch(x: np.ndarray, pixel_max: int | None) -> bool:
    """Whether `x` stays as stored and is converted per batch: uint8 pixels (a quarter of
    float32) and memory maps (possibly larger than memory). Else it is preprocessed up front."""
    import numpy as np

    return isinstance(x, np.memmap) or (pixel_max is not None and x.dtype == np.uint8)


def as_model_values(x: np.ndarray, pixel_max: int | None) -> np.ndarray:
    """Stored samples -> the float32 values the model is fed before standardisation
    (numpy's twin of `batches.Inputs`' per-batch conversion; the same IEEE operations)."""
    import numpy as np

    out = np.asarray(x).astype(np.float32)
    if pixel_max is not None and x.dtype == np.uint8:
        out /= np.float32(pixel_max)
    return out


@dataclass
class Rows:
    """Some rows of a stored array (uint8 pixels, a memory map), not copied: the loop gathers
    each batch from `base[index[...]]` and converts it on the device (`batches.Inputs`)."""

    base: np.ndarray
    index: np.ndarray  # int64, positions in base

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.base.shape[1:])

    def take(self, positions: np.ndarray) -> np.ndarray:
        """The stored samples at `positions` of these rows (a fresh, writable array)."""
        import numpy as np

        return np.ascontiguousarray(self.base[self.index[positions]])


def _too_few(y: np.ndarray, part: str, fraction: float) -> str:
    """Why the stratified split left `part` empty: it takes round(n_c * fraction) samples of
    each class c, so a class needs `need` samples to give it one."""
    import numpy as np

    need = 1
    while round(need * fraction) == 0:
        need += 1
    largest = int(np.bincount(np.unique(y, return_inverse=True)[1].ravel()).max())
    option = "--test-fraction" if part == "test" else "--val-fraction"
    return (
        f"{len(y)} samples in {len(np.unique(y))} classes are too few for a {part} split of "
        f"{fraction}: the split takes {fraction} of each class, so a class needs at least {need} "
        f"samples to give it one, and the largest has {largest}; give more data per class or "
        f"{option} 0"
    )


# --- standardisation ----------------------------------------------------------------------------


@dataclass
class Standardizer:
    """x -> (x - mean) / std with train statistics, on samples as loaded (before `to_layout`).

    Tabular data (N, F): one mean/std per feature. Images (N, C, H, W): one per channel, whatever
    the model's layout, so a rarely-inked pixel of the digits is not blown up to hundreds by its
    tiny std. A constant feature (std 0) is only centred (std 1).
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(
        cls, x: np.ndarray, rows: np.ndarray | None = None, pixel_max: int | None = None
    ) -> Standardizer:
        """Statistics of `x[rows]` (all rows if None) as the model sees them (float32, divided by
        `pixel_max` for uint8 pixels), in one streaming pass: chunks of about STATS_CHUNK values
        are merged into float64 per-channel counts, means and squared deviations (Chan et al.),
        so neither a float64 copy of the set nor a gathered copy of the train rows is made."""
        import numpy as np

        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        n_rows = len(x) if rows is None else len(rows)
        step = max(1, STATS_CHUNK // max(1, math.prod(x.shape[1:])))
        count, mean, m2 = 0, None, None
        for start in range(0, n_rows, step):
            part = x[start : start + step] if rows is None else x[rows[start : start + step]]
            chunk = as_model_values(part, pixel_max).astype(np.float64)
            k = chunk.size // chunk.shape[1]  # values per channel / feature in this chunk
            c_mean = chunk.mean(axis=axes, keepdims=True)[0]
            c_m2 = np.square(chunk - c_mean[None]).sum(axis=axes, keepdims=True)[0]
            if mean is None:
                count, mean, m2 = k, c_mean, c_m2
                continue
            total = count + k
            delta = c_mean - mean
            mean = mean + delta * (k / total)
            m2 = m2 + c_m2 + np.square(delta) * (count * k / total)
            count = total
        assert mean is not None and m2 is not None, "no rows to fit on"
        std = np.sqrt(m2 / count)
        std[std < 1e-8] = 1.0
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype("float32", copy=False)

    def to_dict(self) -> dict:
        return {
            "shape": list(self.mean.shape),
            "mean": self.mean.ravel().tolist(),
            "std": self.std.ravel().tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Standardizer:
        import numpy as np

        shape = tuple(d["shape"])
        return cls(
            np.asarray(d["mean"], np.float32).reshape(shape),
            np.asarray(d["std"], np.float32).reshape(shape),
        )


# --- loading ------------------------------------------------------------------------------------


INPUT_KINDS = ("builtin", "named", "folder", "csv", "npz", "image", "text", "missing", "unknown")


def input_kind(source: str | Path) -> str:
    """What a data source is, the one dispatcher on input types that every reader uses.

    'builtin' (digits, spiral[:...]), 'named' (a standard dataset: mnist, cifar10, ...),
    'folder' (a folder: of class folders for training, of images for predict), 'csv' (.csv),
    'text' (.txt, one text per line), 'npz' (.npz or .npy), 'image' (by extension), 'missing'
    (no such path) or 'unknown'. .csv and .txt may be compressed (.gz, .bz2, .xz:
    `dlcli.files.open_binary` reads them).
    """
    key = str(source).strip().lower()
    if isinstance(source, str) and (key in BUILTIN or key.startswith("spiral:")):
        return "builtin"
    if isinstance(source, str):
        from dlcli.datasets.registry import is_named

        if is_named(key):  # a standard dataset's name wins over a folder of that name
            return "named"
    path = Path(source).expanduser()
    if path.is_dir():
        return "folder"
    if not path.exists():
        return "missing"
    name = strip_compression(path.name.lower())
    suffix = Path(name).suffix
    if suffix in (".csv", ".txt"):
        return "csv" if suffix == ".csv" else "text"
    if name != path.name.lower():
        return "unknown"  # only CSV and text are read through the decompressor
    if suffix in (".npz", ".npy"):
        return "npz"  # both read by `read_npz`
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    return "unknown"


def load_dataset(config: DataConfig, seed: int = 0) -> Dataset:
    """Load the whole dataset named by `config.source` (see the module docstring)."""
    source = config.source.strip()
    path = Path(source).expanduser()
    kind = input_kind(source)
    _check_options(config, kind)
    dataset = _load(config, source, path, kind, seed)
    check_dataset(dataset)
    return dataset


def _check_options(config: DataConfig, kind: str) -> None:
    """Options that only some sources read are an error elsewhere, not silently ignored."""
    if config.target is not None and kind not in ("csv", "missing", "unknown"):
        raise InputError(
            f"--target names the label column of a CSV file; '{config.source}' is not one "
            "(its labels are part of the data): drop --target"
        )
    if config.image_size is not None and kind not in ("folder", "named", "missing", "unknown"):
        raise InputError(
            f"--image-size resizes the images of an image folder; '{config.source}' is not one: "
            "drop --image-size"
        )


def check_dataset(dataset: Dataset) -> None:
    """What every training set needs, whatever read it: two classes or more, at least one value
    per sample, and finite values (float32 overflows to infinity above 3.4e38)."""
    import numpy as np

    if dataset.num_classes < 2:
        only = f" ('{dataset.class_names[0]}')" if dataset.class_names else ""
        raise InputError(
            f"{dataset.name}: every sample has the same label{only}; "
            "a classifier needs at least 2 classes"
        )
    if math.prod(dataset.sample_shape) == 0:
        raise InputError(
            f"{dataset.name}: the samples have shape {dataset.sample_shape}, "
            "no values to learn from"
        )
    if dataset.x.dtype.kind == "f" and not np.isfinite(dataset.x).all():
        sample, *index = np.argwhere(~np.isfinite(dataset.x))[0].tolist()
        column = (
            f"column '{dataset.feature_names[index[0]]}'"
            if dataset.feature_names and len(index) == 1
            else f"index {tuple(index)}"
        )
        raise InputError(
            f"{dataset.name}: sample {sample + 1}, {column}: the value is beyond float32's range "
            "(about ±3.4e38, the precision dlcli trains in); rescale the data"
        )


def _load(config: DataConfig, source: str, path: Path, kind: str, seed: int) -> Dataset:
    if kind == "builtin":
        if source.lower() == "digits":
            return load_digits()
        return make_spiral(**_spiral_options(source), seed=seed)
    if kind == "named":
        return load_standard_images(source.lower(), config.image_size)
    if kind == "missing":
        raise InputError(
            f"data '{source}' not found: expected {', '.join(BUILTIN)}, a standard dataset "
            "(mnist, fashion-mnist, cifar10, cifar100; imdb with train lstm), a .csv or .npz "
            "file, or an image folder DIR/<class>/*.png"
        )
    if kind == "folder":
        return load_image_folder(path, config.image_size or DEFAULT_IMAGE_SIZE)
    if kind == "csv":
        return load_csv(path, config.target or "label")
    if kind == "npz":
        return load_npz(path)
    check_regular(path, "data file")  # a FIFO or a device says so, not "unknown type"
    raise InputError(
        f"data file '{path}': unknown type '{path.suffix.lower()}'; expected .csv, .npz or a folder"
    )


def load_digits() -> Dataset:
    """The 8x8 digits as images (N, 1, 8, 8), pixel values 0..16.

    The file is scikit-learn's copy (64 pixel columns then the label, no header); reading it with
    numpy directly keeps scikit-learn out of the process.
    """
    import numpy as np

    with open_binary(SAMPLE_DATA / "digits.csv.gz") as fh:
        values = np.loadtxt(fh, delimiter=",", dtype=np.float32)  # (1797, 65)
    x = values[:, :64].reshape(-1, 1, 8, 8)
    y = values[:, 64].astype(np.int64)
    return Dataset(
        x=np.ascontiguousarray(x), y=y, class_names=[str(i) for i in range(10)], name="digits"
    )


def load_standard_images(name: str, image_size: tuple[int, int] | None = None) -> Dataset:
    """mnist, fashion-mnist, cifar10, cifar100 from the cache (downloaded on first use): uint8
    (N, C, H, W) pixels (`pixel_max` 255: the model sees [0, 1], as for image folders); the
    official test set in `fixed_test`."""
    from dlcli.datasets.api import load_images
    from dlcli.datasets.registry import get

    shape = get(name).shape
    if image_size is not None and shape is not None and tuple(image_size) != shape[1:]:
        raise InputError(
            f"--image-size resizes image folders; {name} images are {shape[1]}x{shape[2]} "
            "and are used as they are"
        )
    data = load_images(name)
    size = tuple(int(d) for d in data.x.shape[2:])
    channels = data.x.shape[1]
    return Dataset(
        x=data.x,  # uint8 (N, C, H, W): scaled to [0, 1] per batch, as image files are
        y=data.y,
        class_names=data.class_names,
        name=name,
        image_mode="L" if channels == 1 else "RGB",
        extra={"image_size": list(size)},
        fixed_test=data.test,
        pixel_max=255,
    )


def _spiral_options(source: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    _, _, rest = source.partition(":")
    allowed = {"n": int, "classes": int, "noise": float}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        name, eq, value = item.partition("=")
        name = name.strip().lower()
        if not eq or name not in allowed:
            raise InputError(
                f"invalid spiral option '{item}': expected n=POINTS_PER_CLASS, classes=K, noise=F "
                "(e.g. spiral:n=100,classes=3,noise=0.2)"
            )
        try:
            options[name] = allowed[name](value)
        except ValueError:
            raise InputError(f"invalid spiral option '{item}': '{value}' is not a number") from None
    return options


def make_spiral(n: int = 100, classes: int = 3, noise: float = 0.2, seed: int = 0) -> Dataset:
    """K interleaved spiral arms in 2-D (CS231n / ConvNetJS classify2d): n points per class.

    Arm j: radius r in [0, 1], angle t = 4j .. 4(j+1) plus Gaussian noise of sd `noise`;
    point (r sin t, r cos t).
    """
    import numpy as np

    if not (
        2 <= n
        and 2 <= classes <= MAX_SPIRAL_CLASSES
        and n * classes <= MAX_SPIRAL_POINTS
        and 0 <= noise < math.inf
    ):
        raise InputError(
            f"invalid spiral n={n}, classes={classes}, noise={noise}: need n >= 2, "
            f"2 <= classes <= {MAX_SPIRAL_CLASSES}, n * classes <= {MAX_SPIRAL_POINTS:,} points "
            "and a finite noise >= 0"
        )
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for j in range(classes):
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(j * 4.0, (j + 1) * 4.0, n) + rng.normal(0.0, noise, n)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n, j))
    return Dataset(
        x=np.concatenate(xs).astype(np.float32),
        y=np.concatenate(ys).astype(np.int64),
        class_names=[str(j) for j in range(classes)],
        name="spiral",
        feature_names=["x1", "x2"],
        extra={"n": n, "classes": classes, "noise": noise},
    )


def _class_names(labels: list[str]) -> list[str]:
    """Sorted unique labels; numerically when every label is an integer (2 before 10)."""
    unique = set(labels)
    try:
        return sorted(unique, key=lambda s: (int(s), s))
    except ValueError:
        return sorted(unique)


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: '{text}' is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: '{text}' is not a finite number (NaN or infinity)")
    return value


MAX_CSV_LINE = 16 << 20  # bytes in one CSV line: ~1M numeric columns, far beyond an MLP input


def open_csv(path: Path):
    """A CSV file as text for the csv module (compressed or not; a UTF-8 BOM is skipped). A
    line longer than MAX_CSV_LINE is refused as it is read, before it fills memory."""
    return open_text(path, encoding="utf-8-sig", newline="", max_line=MAX_CSV_LINE)


def read_csv_table(
    path: Path,
    target: str | None,
    feature_names: list[str] | None = None,
) -> tuple[np.ndarray, list[str] | None, list[str]]:
    """Parse a CSV: (features (N, F) float32, labels as strings or None, feature column names).

    With `feature_names` (predicting with a trained model) those columns are taken by name and
    `target` is optional; otherwise every column but `target` is a feature.

    numpy's C parser (`np.loadtxt`) reads a well-formed file; anything it refuses or doubts
    (a bad cell, a short row, quotes, NaN) is read again by the validating parser, which
    either accepts it or names the file, line and column of the problem.
    """
    fast = _read_csv_fast(path, target, feature_names)
    if fast is not None:
        return fast
    return _read_csv_checked(path, target, feature_names)


LABEL_EXACT = 1 << 24  # integers up to this are exact in float32: a numeric label column


def _read_csv_fast(
    path: Path, target: str | None, feature_names: list[str] | None
) -> tuple[np.ndarray, list[str] | None, list[str]] | None:
    """`read_csv_table` by np.loadtxt, or None where the validating parser must decide."""
    import numpy as np

    try:
        with open_csv(path) as fh:
            header_line = fh.readline()
            header = [h.strip() for h in next(csv.reader([header_line]), [])]
            if (
                not header
                or not any(header)
                or '"' in header_line
                or len(set(header)) != len(header)
            ):
                return None
            features = [h for h in header if h != target] if feature_names is None else None
            features = feature_names if features is None else features
            if not features or any(f not in header for f in features):
                return None
            if feature_names is None and target not in header:
                return None
            col = {h: i for i, h in enumerate(header)}
            label_idx = col.get(target) if target is not None else None
            # (N, columns) float32, every column: the label column too when it is numeric
            table = np.loadtxt(
                fh, delimiter=",", dtype=np.float32, comments=None, ndmin=2, encoding=None
            )
    except InputError:  # a line too long (open_csv): the validating parser would say the same
        raise
    except Exception:  # noqa: BLE001 (the validating parser explains, or accepts, the file)
        return None
    if table.shape[0] == 0 or table.shape[1] != len(header) or not np.isfinite(table).all():
        return None
    feat_idx = [col[f] for f in features]
    if label_idx is not None and feat_idx == [i for i in range(len(header)) if i != label_idx]:
        x = np.delete(table, label_idx, axis=1)  # slices copied, faster than a column gather
    else:
        x = table[:, feat_idx] if feat_idx != list(range(table.shape[1])) else table
    labels = None
    if label_idx is not None:
        column = table[:, label_idx]
        if not (np.all(column == np.round(column)) and np.all(np.abs(column) < LABEL_EXACT)):
            return None  # 0.5, 1e9: labels kept as written, read by the validating parser
        values, inverse = np.unique(column.astype(np.int64), return_inverse=True)
        names = [str(v) for v in values.tolist()]
        labels = [names[i] for i in inverse.tolist()]
    del table
    return np.ascontiguousarray(x), labels, list(features)


def _read_csv_checked(
    path: Path,
    target: str | None,
    feature_names: list[str] | None = None,
) -> tuple[np.ndarray, list[str] | None, list[str]]:
    """The validating parser: every cell checked, problems named by file, line and column."""
    import numpy as np

    try:
        with open_csv(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise InputError(f"{path}: the file is empty; expected a header row and data rows")
            header = [h.strip() for h in header]
            features = _feature_columns(path, header, target, feature_names)
            col = {h: i for i, h in enumerate(header)}
            feat_idx = [col[f] for f in features]
            label_idx = col.get(target) if target is not None else None
            rows: list[list[float]] = []
            labels: list[str] = []
            for lineno, row in enumerate(reader, start=2):
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                if len(row) != len(header):
                    raise InputError(
                        f"{path}:{lineno}: expected {len(header)} columns as in the header, "
                        f"got {len(row)}"
                    )
                rows.append(
                    [
                        _number(row[i].strip(), f"{path}:{lineno}: column '{header[i]}'")
                        for i in feat_idx
                    ]
                )
                if label_idx is not None:
                    label = row[label_idx].strip()
                    if not label:
                        raise InputError(f"{path}:{lineno}: column '{target}': empty label")
                    labels.append(_canonical_label(label))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except read_errors() as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV ({exc})") from None
    if not rows:
        raise InputError(f"{path}: has a header but no data rows")
    return np.asarray(rows, dtype=np.float32), (labels if label_idx is not None else None), features


def _feature_columns(
    path: Path, header: list[str], target: str | None, feature_names: list[str] | None
) -> list[str]:
    """The feature columns: every column but the label (training), or the model's own."""
    if feature_names is not None:
        missing = [f for f in feature_names if f not in header]
        if missing:
            raise InputError(
                f"{path}: missing feature column(s) {', '.join(missing[:5])} "
                "that the model was trained on"
            )
        return feature_names
    if target not in header:
        raise InputError(
            f"{path}: no label column '{target}' in the header "
            f"(columns: {', '.join(header[:12])}{', ...' if len(header) > 12 else ''}); "
            "name it with --target"
        )
    features = [h for h in header if h != target]
    if not features:
        raise InputError(f"{path}: no feature columns besides the label '{target}'")
    return features


def _canonical_label(label: str) -> str:
    """'3', '3.0' and ' 3' are one class; other labels are kept as written."""
    try:
        value = float(label)
    except ValueError:
        return label
    return str(int(value)) if value.is_integer() else label


def csv_table(
    path: Path, target: str | None, feature_names: list[str] | None = None
) -> tuple[np.ndarray, list[str] | None, list[str]]:
    """`read_csv_table` for a user's file: a regular file first, and numbers beyond float32's
    range (which the cast turns into infinity, with numpy's warning) an error naming them."""
    import numpy as np

    check_regular(path, "data file")
    with np.errstate(over="ignore", invalid="ignore"):
        x, labels, features = read_csv_table(path, target, feature_names)
    if not np.isfinite(x).all():
        row, column = np.argwhere(~np.isfinite(x))[0].tolist()
        raise InputError(
            f"{path}: data row {row + 1}, column '{features[column]}': the value is beyond "
            "float32's range (about ±3.4e38, the precision dlcli computes in); rescale the data"
        )
    return x, labels, features


def load_csv(path: Path, target: str) -> Dataset:
    x, labels, features = csv_table(path, target)
    assert labels is not None
    names = _class_names(labels)
    return Dataset(
        x=x,
        y=_encode(labels, names, path),
        class_names=names,
        name=str(path),
        feature_names=features,
    )


def _encode(labels, names: list[str], path: Path) -> np.ndarray:
    import numpy as np

    index = {n: i for i, n in enumerate(names)}
    try:
        return np.fromiter((index[str(v)] for v in labels), dtype=np.int64, count=len(labels))
    except KeyError as exc:
        raise InputError(
            f"{path}: label {exc.args[0]} is not one of the model's classes "
            f"({', '.join(names[:12])})"
        ) from None


def read_npz(path: Path, need_y: bool = True) -> tuple[np.ndarray, list[str] | None]:
    """(x (N, ...), labels as strings or None) from an .npz with arrays x and y, or from a .npy
    of x (labels, if any, in NAME.labels.npy beside it).

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
    labels = None
    if y is not None:
        if y.ndim != 1 or len(y) != len(x):
            raise InputError(f"{path}: array 'y' has shape {y.shape}; expected ({len(x)},)")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise InputError(
                f"{path}: array 'y' has a NaN label at index {int(np.argmax(~np.isfinite(y)))}"
            )
        labels = [_canonical_label(str(v)) for v in y.tolist()]
    return (x[:, None] if x.ndim == 3 else x), labels


def _load_arrays(path: Path, need_y: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, y or None) of an .npz (x memory-mapped where stored uncompressed) or of a .npy with
    its NAME.labels.npy; never unpickles, every failure an InputError naming the file."""
    import zipfile

    import numpy as np

    check_regular(path, "data file")
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
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, *read_errors()) as exc:
        # numpy's messages advise allow_pickle=True: never (unpickling can run any code)
        if "Object arrays" in str(exc):
            raise InputError(
                f"{path}: holds Python objects (pickled data), not plain numeric arrays; "
                "dlcli never unpickles a file (it can run any code): save x and y as numbers"
            ) from None
        if "pickle" in str(exc):  # neither a zip nor a .npy: numpy would try it as a pickle
            exc = "neither a zip archive nor a .npy array"  # type: ignore[assignment]
        raise InputError(f"{path}: not a readable {path.suffix.lower()} file ({exc})") from None
    return x, y


def npz_pixel_max(x: np.ndarray) -> int | None:
    """255 for uint8 images (N, [C,] H, W) from an .npz/.npy: pixels, scaled to [0, 1] per
    batch as image folders are; None for anything else (features, used as they are)."""
    return 255 if x.dtype.kind == "u" and x.dtype.itemsize == 1 and x.ndim >= 3 else None


def _check_finite(x: np.ndarray, path: Path) -> None:
    """Raise on the first NaN or infinity, reading x in chunks (a memory map stays unread)."""
    import numpy as np

    step = max(1, STATS_CHUNK // max(1, math.prod(x.shape[1:])))
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
    order = "F" if fortran else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)


def load_npz(path: Path) -> Dataset:
    x, labels = read_npz(path)
    assert labels is not None
    names = _class_names(labels)
    return Dataset(
        x=x,
        y=_encode(labels, names, path),
        class_names=names,
        name=str(path),
        pixel_max=npz_pixel_max(x),
    )


def image_files(folder: Path, skipped: list[str] | None = None) -> list[Path]:
    """The image files of a folder, sorted. Entries with an image's name that are not regular
    files (a dangling link, a FIFO, a device) are left out, and named in `skipped` if given."""
    import stat

    found = []
    for p in folder.iterdir():
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        try:
            regular = stat.S_ISREG(p.stat().st_mode)
        except OSError:  # a link to nothing (or a loop of links)
            regular, what = False, "a link to a missing file"
        else:
            what = "a folder" if p.is_dir() else "not a regular file (a FIFO, device or socket)"
        if regular:
            found.append(p)
        elif skipped is not None:
            skipped.append(f"{p}: {what}")
    return sorted(found)


# Pillow's decompression-bomb guard: it warns above MAX_IMAGE_PIXELS and refuses above twice
# that. dlcli refuses above the limit itself (an input error naming the file), so no library
# warning reaches the terminal and nothing between the two limits is decoded half-trusted.
def _open_image(path: Path, load: bool = False, guard: bool = True):
    """Image.open (and with `load`, the decoding) with every failure an InputError naming the
    file: the decompression-bomb guard, and Pillow's warnings about a damaged file ("Corrupt
    EXIF data", which would otherwise print as a raw line), treated as the damage they report.

    guard=False: the caller has set the warning filters already (`_pillow_warnings`), as the
    decoding threads of `read_images` need: `warnings.catch_warnings` is process-wide state,
    not safe to enter from several threads at once."""
    from PIL import Image

    check_regular(path, "image")
    try:
        with _pillow_warnings() if guard else contextlib.nullcontext():
            img = Image.open(path)
            if load:
                try:
                    img.load()
                except BaseException:
                    img.close()
                    raise
            return img
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        limit = Image.MAX_IMAGE_PIXELS
        raise InputError(
            f"{path}: the image has more pixels than Pillow's decompression-bomb limit "
            f"({limit:,} pixels); shrink it before use"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # a decoder fed a damaged file fails in many ways (OSError,
        # SyntaxError, struct.error, IndexError, ...): each means this file cannot be read
        raise InputError(f"{path}: cannot read the image ({type(exc).__name__}: {exc})") from None


@dataclass
class DecodeProgress:
    """One progress event of an image decode: `done` of `total` images of `source`."""

    source: str
    done: int
    total: int


DecodeCallback = Callable[[DecodeProgress], None]
# Where image decoding reports when the caller passes no callback: the CLI sets it around a
# command (`reporting_decode(view)`), as `dlcli.datasets.download.reporting` does for downloads.
_DECODE_REPORT: contextvars.ContextVar[DecodeCallback | None] = contextvars.ContextVar(
    "dlcli_decode_progress", default=None
)
DECODE_REPORT_EVERY = 256  # images between progress events


@contextlib.contextmanager
def reporting_decode(callback: DecodeCallback | None) -> Iterator[None]:
    """Send the progress of every image decode inside the `with` block to `callback`."""
    token = _DECODE_REPORT.set(callback)
    try:
        yield
    finally:
        _DECODE_REPORT.reset(token)


THREADED_PIXELS = 128 * 128  # below this, an image decodes in ~50 us of mostly GIL-held Python


def decode_workers(first: Path | None = None) -> int:
    """Threads that decode images: Pillow releases the GIL while it decodes and resizes, which
    pays for images of THREADED_PIXELS or more (judged by the first image's header); smaller ones
    decode faster in one thread (measured: 2,000 32x32 PNGs, 0.11 s in one, 0.24 s in two)."""
    if first is not None:
        try:
            with _open_image(first) as img:
                if img.size[0] * img.size[1] < THREADED_PIXELS:
                    return 1
        except InputError:
            return 1  # the decode itself will say what is wrong with it
    return max(1, min(8, os.cpu_count() or 1))


def read_images(
    paths: list[Path],
    size: tuple[int, int],
    mode: str,
    workers: int | None = None,
    on_progress: DecodeCallback | None = None,
    source: str = "",
) -> np.ndarray:
    """Images as uint8 (N, C, H, W), converted to `mode` and resized to (H, W); the model sees
    them divided by 255 (`Dataset.pixel_max`). Decoded once, by `workers` threads (default
    `decode_workers()`), each image into its row; progress to `on_progress` (or the callback
    of `reporting_decode`) every DECODE_REPORT_EVERY images."""
    import numpy as np

    h, w = size
    channels = 1 if mode == "L" else 3
    out = np.empty((len(paths), channels, h, w), dtype=np.uint8)
    report = on_progress or _DECODE_REPORT.get()
    if workers is None:
        workers = decode_workers(paths[0] if paths else None)
    workers = max(1, workers)
    total = len(paths)

    def decode(i: int) -> None:
        out[i] = _decode_image(paths[i], (h, w), mode)

    with _pillow_warnings():  # set once here: the decoding threads share the filters
        return _decode_all(decode, total, workers, report, source, out)


def _decode_all(decode, total: int, workers: int, report, source: str, out: np.ndarray):
    """Run `decode(i)` for every image, serially or in `workers` threads, reporting progress."""
    if workers == 1 or total < 2 * DECODE_REPORT_EVERY:
        for i in range(total):
            decode(i)
            if report and ((i + 1) % DECODE_REPORT_EVERY == 0 or i + 1 == total):
                report(DecodeProgress(source, i + 1, total))
        return out
    from concurrent.futures import ThreadPoolExecutor

    def decode_range(start: int) -> int:
        stop = min(total, start + DECODE_REPORT_EVERY)
        for i in range(start, stop):
            decode(i)
        return stop - start

    done = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="dlcli-decode") as pool:
        # map yields in order: the first failing image (in file order) raises its InputError
        for n in pool.map(decode_range, range(0, total, DECODE_REPORT_EVERY)):
            done += n
            if report:
                report(DecodeProgress(source, done, total))
    return out


@contextlib.contextmanager
def _pillow_warnings() -> Iterator[None]:
    """Pillow's warnings as errors (a decompression bomb, a damaged file's "Corrupt EXIF data"),
    except its note on palette transparency, which only concerns the conversion we make."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="Palette images with Transparency")
        yield


def _decode_image(path: Path, size: tuple[int, int], mode: str) -> np.ndarray:
    """One image as uint8 (C, H, W)."""
    import numpy as np
    from PIL import Image

    h, w = size
    try:
        with _open_image(path, load=True, guard=False) as img:
            img = img.convert(mode)
            if img.size != (w, h):  # (resize to the same size is a copy)
                img = img.resize((w, h), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError, Warning) as exc:  # e.g. a mode Pillow cannot convert
        raise InputError(f"{path}: cannot read the image ({exc})") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def image_mode(paths: list[Path]) -> str:
    """'L' when every image is greyscale, else 'RGB'."""
    for p in paths:
        with _open_image(p) as img:
            if img.mode not in ("1", "L", "LA", "I", "I;16", "F"):
                return "RGB"
    return "L"


def load_image_folder(folder: Path, size: tuple[int, int]) -> Dataset:
    import numpy as np

    if size[0] < 1 or size[1] < 1:
        raise InputError(f"invalid --image-size {size[0]}x{size[1]}: expected positive sizes")
    classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    skipped: list[str] = []
    per_class = [(d.name, image_files(d, skipped)) for d in classes]
    per_class = [(name, files) for name, files in per_class if files]
    if not per_class:
        raise InputError(
            f"{folder}: no images found; expected DIR/<class>/*.png|jpg "
            f"({', '.join(IMAGE_EXTENSIONS)})"
        )
    if len(per_class) < 2:
        raise InputError(
            f"{folder}: only one class folder with images ('{per_class[0][0]}'); "
            "a classifier needs at least two"
        )
    paths = [p for _, files in per_class for p in files]
    labels = np.concatenate([np.full(len(files), i) for i, (_, files) in enumerate(per_class)])
    mode = image_mode(paths)
    x = read_images(paths, size, mode, source=str(folder))
    return Dataset(
        x=x,
        y=labels.astype(np.int64),
        class_names=[n for n, _ in per_class],
        name=str(folder),
        image_mode=mode,
        extra={"image_size": list(size), "notes": _skipped_note(skipped)},
        pixel_max=255,
    )


def _skipped_note(skipped: list[str]) -> list[str]:
    if not skipped:
        return []
    shown = "; ".join(skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
    return [f"skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} that are not "
            f"image files: {shown}"]  # fmt: skip

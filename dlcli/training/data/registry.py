"""The registry of input kinds: the one dispatcher on input types that every reader uses.

`KINDS` lists every kind (`kinds.InputKind`) in the order they are tried: names first (a
standard dataset's name wins over a folder of that name), then folders, then files by extension.
`input_kind` says what a source is; `load_dataset` (train), `read_labelled` (evaluate --data)
and `read_raw` (predict) dispatch on it. A source that is no path is 'missing'; a file of no
kind's extension is 'unknown'.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import dlcli.training.data.arrays as arrays
import dlcli.training.data.builtin as builtin
import dlcli.training.data.folders as folders
import dlcli.training.data.named as named
import dlcli.training.data.tables as tables
import dlcli.training.data.text as text
from dlcli.errors import InputError
from dlcli.files import check_regular, strip_compression
from dlcli.training.config import DataConfig
from dlcli.training.data.dataset import Dataset, check_dataset
from dlcli.training.data.images import IMAGE_EXTENSIONS
from dlcli.training.data.kinds import InputKind, RawInputs, Trained

if TYPE_CHECKING:
    import numpy as np

KINDS: tuple[InputKind, ...] = (
    builtin.KIND,
    named.KIND,
    folders.FOLDER,
    tables.KIND,
    text.KIND,
    arrays.KIND,
    folders.IMAGE,
)
MISSING, UNKNOWN = "missing", "unknown"


def input_kind(source: str | Path) -> str:
    """What a data source is: a kind's name ('builtin' digits, spiral[:...]; 'named' mnist,
    cifar10, ...; 'folder'; 'csv'; 'text' .txt; 'npz' .npz or .npy; 'image'), 'missing' (no
    such path) or 'unknown'. A string may be a name; a Path is always a path. Only the kinds
    marked `compressed` are recognised as .gz, .bz2 or .xz (`dlcli.files.open_binary`)."""
    key = str(source).strip().lower()
    if isinstance(source, str):
        for kind in KINDS:
            if kind.matches is not None and kind.matches(key):
                return kind.name
    path = Path(source).expanduser()
    if path.is_dir():
        return next(kind.name for kind in KINDS if kind.folder)
    if not path.exists():
        return MISSING
    name = strip_compression(path.name.lower())
    suffix = Path(name).suffix
    for kind in KINDS:
        if suffix in kind.suffixes and (kind.compressed or name == path.name.lower()):
            return kind.name
    return UNKNOWN


def kind_named(name: str) -> InputKind | None:
    """The registered kind of that name; None for 'missing' and 'unknown'."""
    return next((kind for kind in KINDS if kind.name == name), None)


def load_dataset(config: DataConfig, seed: int = 0) -> Dataset:
    """Load the whole dataset named by `config.source` (see `dlcli.training.data`)."""
    source = config.source.strip()
    path = Path(source).expanduser()
    kind = kind_named(input_kind(source))
    _check_options(config, kind)
    if kind is None or kind.load is None:
        _not_data(source, path, kind)
    dataset = kind.load(config, source, path, seed)
    check_dataset(dataset)
    return dataset


def _not_data(source: str, path: Path, kind: InputKind | None) -> NoReturn:
    """Raise the error for a source that no kind loads as training data."""
    if kind is None and not path.exists():
        raise InputError(
            f"data '{source}' not found: expected {', '.join(builtin.BUILTIN)}, a standard "
            "dataset (mnist, fashion-mnist, cifar10, cifar100; imdb with train lstm; "
            "boston_housing with --loss mse), a .csv or "
            ".npz file, or an image folder DIR/<class>/*.png"
        )
    check_regular(path, "data file")  # a FIFO or a device says so, not "unknown type"
    raise InputError(
        f"data file '{path}': unknown type '{path.suffix.lower()}'; expected .csv, .npz or a folder"
    )


def _check_options(config: DataConfig, kind: InputKind | None) -> None:
    """Options that only some sources read are an error elsewhere, not silently ignored
    (a missing or unknown source gets its own message)."""
    if config.target is not None and kind is not None and not kind.takes_target:
        raise InputError(
            f"--target names the label column of a CSV file; '{config.source}' is not one "
            "(its labels are part of the data): drop --target"
        )
    if config.image_size is not None and kind is not None and not kind.takes_image_size:
        raise InputError(
            f"--image-size resizes the images of an image folder; '{config.source}' is not one: "
            "drop --image-size"
        )


def read_labelled(
    trained: Trained, source: str, target: str | None
) -> tuple[np.ndarray, list[str]]:
    """evaluate --data: raw samples (N, *sample_shape) and their labels as class names. `target`
    is --target as given; the kind's reader falls back to the run's own label column."""
    path = Path(source).expanduser()
    kind = kind_named(input_kind(source))
    if kind is not None and kind.labelled is not None:
        return kind.labelled(trained, source, path, target or trained.data.target)
    # digits, spiral, a named set, or the shared loader's message for a missing or unknown file
    dataset = load_dataset(DataConfig(source=source, target=target), seed=trained.train.seed)
    return dataset.x, [dataset.class_names[i] for i in dataset.y.tolist()]


def read_raw(
    trained: Trained, item: str, own: Callable[[Path], RawInputs | None] | None = None
) -> RawInputs:
    """predict: one input (a file or a folder) as samples or image files. `own` (the model
    family's reader, lstm's texts) is offered every file first."""
    path = Path(item).expanduser()
    kind = kind_named(input_kind(path))
    if kind is None and not path.exists():
        raise InputError(f"input '{item}' not found")
    if kind is None or not kind.folder:
        check_regular(path, "input")  # a FIFO or a device: say so, and never read it
        if own is not None and (claimed := own(path)) is not None:
            return claimed
    if kind is None or kind.inputs is None:
        raise InputError(
            f"input '{item}': unknown type '{path.suffix.lower()}'; expected .csv, .npz or "
            f"an image ({', '.join(IMAGE_EXTENSIONS)})"
        )
    return kind.inputs(trained, path)

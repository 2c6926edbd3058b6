"""What an input kind is: the record each kind's module fills in and `registry.KINDS` lists.

An `InputKind` says how a `--data` source (or a `predict` input) is recognised, and holds the
kind's three readers:

    load(config, source, path, seed)        -> Dataset           train: the whole labelled set
    labelled(trained, source, path, target) -> (x, labels)       evaluate --data: raw samples
    inputs(trained, path)                   -> RawInputs         predict: raw samples or images

`trained` is the run's `RunSpec` (anything with the `Trained` attributes). A reader left None
means: `load`, the kind is not training data ("unknown type"); `labelled`, the whole set that
`load_dataset` reads; `inputs`, not a predict input ("unknown type").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dlcli.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from dlcli.training.config import DataConfig
    from dlcli.training.data.dataset import Dataset


class _Seeded(Protocol):
    @property
    def seed(self) -> int: ...


class Trained(Protocol):
    """What the evaluate and predict readers know of the trained model (a `RunSpec` has it)."""

    @property
    def data(self) -> DataConfig: ...
    @property
    def train(self) -> _Seeded: ...
    @property
    def sample_shape(self) -> tuple[int, ...]: ...
    @property
    def feature_names(self) -> list[str] | None: ...
    @property
    def image_mode(self) -> str | None: ...
    @property
    def pixel_max(self) -> int | None: ...


@dataclass
class RawInputs:
    """One predict input: samples (N, *sample_shape) named one by one, or image files, which
    `predict` reads together at the end (`folders.read_image_inputs`)."""

    names: list[str] = field(default_factory=list)
    x: np.ndarray | None = None
    images: list[Path] = field(default_factory=list)


Load = Callable[["DataConfig", str, Path, int], "Dataset"]
Labelled = Callable[[Trained, str, Path, "str | None"], "tuple[np.ndarray, list[str]]"]
Inputs = Callable[[Trained, Path], RawInputs]


@dataclass(frozen=True)
class InputKind:
    """One kind of input. Recognised by `matches` (a name: digits, mnist), by being a folder
    (`folder`), or by the file's extension (`suffixes`, also compressed if `compressed`)."""

    name: str
    load: Load | None = None
    labelled: Labelled | None = None
    inputs: Inputs | None = None
    matches: Callable[[str], bool] | None = None  # the source string, stripped, lower-cased
    folder: bool = False
    suffixes: tuple[str, ...] = ()
    compressed: bool = False  # .gz, .bz2 and .xz of these suffixes too (`dlcli.files`)
    takes_target: bool = False  # --target names something in it (a CSV's label column)
    takes_image_size: bool = False  # --image-size applies to it


def check_shape(trained: Trained, x: np.ndarray, where: str) -> None:
    """Samples of another shape than the model was trained on are an input error."""
    if tuple(x.shape[1:]) != trained.sample_shape:
        want = "x".join(map(str, trained.sample_shape))
        got = "x".join(map(str, x.shape[1:]))
        raise InputError(f"{where}: samples have shape {got}; the model was trained on {want}")

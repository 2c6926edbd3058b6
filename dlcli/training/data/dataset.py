"""The dataset every input kind loads into, the checks every training set passes, and labels.

`Dataset` holds the whole set as loaded: `x` flat features (N, F), images (N, C, H, W) or token
ids (N, T), and `y` int64 class indices into `class_names`. `class_names_of` orders the labels
(numerically when every label is an integer), `canonical_label` merges '3' and '3.0', and
`encode_labels` turns labels into class indices with an error naming the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Dataset:
    """A whole dataset: `x` (N, F) or (N, C, H, W), `y` int64 class indices into
    `class_names`, or for regression float32 targets (N, T) with `class_names == []` and
    `target_names` naming the T targets (`engine.tasks.Regression.adapt`).

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
    # the target column(s) (CSV --target; "y" for arrays): a regression run's output names
    target_names: list[str] = field(default_factory=list)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def check_dataset(dataset: Dataset) -> None:
    """What every dataset needs, whatever read it: at least one value per sample, and finite
    values (float32 overflows to infinity above 3.4e38). What its targets need depends on the
    run's task: `engine.tasks` checks them (two classes or more; numbers that vary)."""
    import numpy as np

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


def class_names_of(labels: list[str]) -> list[str]:
    """Sorted unique labels; numerically when every label is an integer (2 before 10)."""
    unique = set(labels)
    try:
        return sorted(unique, key=lambda s: (int(s), s))
    except ValueError:
        return sorted(unique)


def canonical_label(label: str) -> str:
    """'3', '3.0' and ' 3' are one class; other labels are kept as written."""
    try:
        value = float(label)
    except ValueError:
        return label
    return str(int(value)) if value.is_integer() else label


def encode_labels(labels: list[str], names: list[str], path: Path) -> np.ndarray:
    import numpy as np

    index = {n: i for i, n in enumerate(names)}
    try:
        return np.fromiter((index[str(v)] for v in labels), dtype=np.int64, count=len(labels))
    except KeyError as exc:
        raise InputError(
            f"{path}: label {exc.args[0]} is not one of the model's classes "
            f"({', '.join(names[:12])})"
        ) from None

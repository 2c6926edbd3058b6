"""What the format readers return: a whole standard dataset, official split kept.

Training examples come first, then the official test set: `test` is the index array of the
latter, which `split_indices` keeps as the test split (validation is carved from the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass
class ImageData:
    name: str
    x: np.ndarray  # uint8 (N, C, H, W), the official training images then the test images
    y: np.ndarray  # int64 (N,) class indices
    class_names: list[str]
    n_train: int

    @property
    def test(self) -> np.ndarray:
        import numpy as np

        return np.arange(self.n_train, len(self.y), dtype=np.int64)


@dataclass
class TextData:
    name: str
    texts: list[str]  # the official training texts, then the test texts
    labels: list[str]  # class names, one per text
    class_names: list[str]
    n_train: int

    @property
    def test(self) -> np.ndarray:
        import numpy as np

        return np.arange(self.n_train, len(self.texts), dtype=np.int64)


@dataclass
class TableData:
    """Rows of numbers with numeric targets (regression): boston_housing."""

    name: str
    x: np.ndarray  # float64 (N, F), the official training rows then the test rows
    y: np.ndarray  # float64 (N,) or (N, T): the targets, in their original units
    feature_names: list[str]
    target_names: list[str]
    n_train: int

    @property
    def test(self) -> np.ndarray:
        import numpy as np

        return np.arange(self.n_train, len(self.x), dtype=np.int64)

"""Preprocessing: the model family's layout, stored arrays converted per batch, standardisation.

`to_layout` gives each model family the layout it declares (`flat`, `image` or `sequence`);
`stored_per_batch` says which arrays stay as stored (uint8 pixels, memory maps) and are converted
per batch (`Rows`, `as_model_values`); `Standardizer` centres and scales by train statistics
(saved with the model, so `evaluate` and `predict` apply exactly the same preprocessing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlcli.errors import InputError

if TYPE_CHECKING:
    import numpy as np

LAYOUTS = ("flat", "image", "sequence")

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

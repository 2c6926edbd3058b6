"""How a split's samples reach the model: `Inputs`, the one place a stored batch becomes input.

A split is held either preprocessed on the device (float32 features, token ids: sliced as they
are) or as stored (`data.Rows`: uint8 pixels, a memory map), in which case every batch is
gathered on the host, moved to the device and converted there: float32, divided by the pixel
maximum, standardised per channel or feature, reshaped to the model's layout. The loop's
training batches (`batches`) and the scoring chunks (`chunks`, `metrics.scores_of`) both come
from here, so training, the run's test numbers and `evaluate` see the same values.
torch is imported inside functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from dlcli.training.data import Rows, stored_per_batch

if TYPE_CHECKING:
    import numpy as np
    import torch

    from dlcli.training.runs.spec import RunSpec


class Inputs:
    """One split's inputs on their way to the model (see the module docstring)."""

    def __init__(
        self,
        x: torch.Tensor | Rows,
        device: torch.device,
        convert: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.x, self.device, self.convert = x, device, convert

    def __len__(self) -> int:
        return len(self.x)

    def _take(self, positions: np.ndarray | slice) -> torch.Tensor:
        """Model input for samples at `positions` of this split."""
        import torch

        if not isinstance(self.x, Rows):
            return self.x[positions]
        if isinstance(positions, slice):
            stored = self.x.base[self.x.index[positions]]
        else:
            stored = self.x.take(positions)
        xb = torch.from_numpy(stored).to(self.device, non_blocking=True)
        return self.convert(xb) if self.convert else xb

    def batches(
        self, order: torch.Tensor, spans: int | Iterable[tuple[int, int]]
    ) -> Iterator[torch.Tensor]:
        """The split in `order` (positions, a permutation) cut into batches: `spans` is the
        batch size, or the (start, stop) of each batch in `order` (a rank's shares under DDP)."""
        if isinstance(spans, int):
            spans = [(lo, lo + spans) for lo in range(0, len(order), spans)]
        if not isinstance(self.x, Rows):
            xs = self.x[order]  # on the device: one gather per epoch, then views
            for start, stop in spans:
                yield xs[start:stop]
            return
        positions = order.cpu().numpy()
        for start, stop in spans:
            yield self._take(positions[start:stop])

    def strided(self, start: int, step: int) -> Inputs:
        """Every `step`-th sample from `start` (a rank's share of a split under DDP); stored
        rows are not copied."""
        if isinstance(self.x, Rows):
            return Inputs(Rows(self.x.base, self.x.index[start::step]), self.device, self.convert)
        return Inputs(self.x[start::step], self.device, self.convert)

    def chunks(self, size: int) -> Iterator[torch.Tensor]:
        """The split in order, `size` samples a chunk (scoring)."""
        for start in range(0, len(self), size):
            yield self._take(slice(start, start + size))


def inputs_for(
    spec: RunSpec, x: np.ndarray | Rows, device: torch.device, raw: bool = False
) -> Inputs:
    """A split's inputs for the run's model. `x` is rows of a stored array (`prepare`'s uint8
    pixels or memory map), an array `prepare` preprocessed already (float32 or token ids in the
    model's layout), or with `raw` samples as read (N, *sample_shape: evaluate --data, predict),
    which are stored per batch or preprocessed here as `prepare` would."""
    import numpy as np
    import torch

    if raw and not isinstance(x, Rows) and stored_per_batch(x, spec.pixel_max):
        x = Rows(x, np.arange(len(x), dtype=np.int64))
    if isinstance(x, Rows):
        return Inputs(x, device, converter(spec, device))
    if raw:
        x = spec.preprocess(x)
    return Inputs(torch.from_numpy(np.ascontiguousarray(x)).to(device), device)


def converter(spec: RunSpec, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """Stored batch (B, *sample_shape) on the device -> the model's input: float32, / pixel max,
    standardised, in the model's layout. The same IEEE operations as `RunSpec.preprocess`."""
    import torch

    std = spec.standardizer
    norm = (
        (torch.from_numpy(std.mean).to(device), torch.from_numpy(std.std).to(device))
        if std
        else None
    )
    scale = spec.pixel_max
    layout = spec.layout

    def convert(xb: torch.Tensor) -> torch.Tensor:
        x = xb.to(torch.float32)
        if scale is not None and xb.dtype == torch.uint8:
            x = x / float(scale)
        if norm is not None:
            x = (x - norm[0]) / norm[1]
        return to_layout_tensor(x, layout)

    return convert


def to_layout_tensor(x: torch.Tensor, layout: str) -> torch.Tensor:
    """`data.to_layout` for a float batch tensor (B, *sample)."""
    n = x.shape[0]
    if layout == "flat":
        return x.reshape(n, -1)
    if layout == "image":
        return x if x.ndim == 4 else x[:, None]
    if x.ndim == 4:  # sequence: images row by row (B, H, C*W)
        b, c, h, w = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, h, c * w)
    return x if x.ndim == 3 else x.reshape(n, -1, 1)

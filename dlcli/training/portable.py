"""`RawInputModel`: a trained run's network with its preprocessing, as one plain `nn.Module`.

    raw samples (B, *sample_shape)  as `dlcli predict` reads them: float32 features or pixels,
                                    uint8 pixels (image runs), or int64 token ids (B, T) (text)
    -> float32, / pixel maximum (uint8 only), standardised with the run's train statistics,
       reshaped to the family's layout (`batches.to_layout_tensor`)
    -> the trained network -> softmax -> class probabilities (B, C)
       (a regression run: -> x target std + target mean -> predictions (B, T), original units)

The same operations, in the same order, as `batches.converter` and `RunSpec.preprocess`, so the
probabilities are `dlcli predict`'s. What a user needs beside the tensor maths rides along as
attributes: `class_names`, `sample_shape`, `input_dtype`, `feature_names` (CSV runs), `vocabulary`
(text) and `encode(texts)`
(text -> padded ids with the run's tokeniser and vocabulary). `load_model` (export.py) builds
it; `exportable()` gives the form the exporters trace (see `recurrent.UnpackedRecurrent`).

Imports torch at its top: only `dlcli.training.export` imports it, inside its functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from dlcli.training.engine.batches import to_layout_tensor

if TYPE_CHECKING:
    from dlcli.training.runs.spec import RunSpec


class RawInputModel(nn.Module):
    """Raw samples (B, *sample_shape) -> class probabilities (B, C); see the module docstring."""

    mean: torch.Tensor | None  # the run's standardisation (buffers; None: not standardised)
    std: torch.Tensor | None
    target_mean: torch.Tensor | None  # regression: the targets' (None: a classifier)
    target_std: torch.Tensor | None

    def __init__(self, model: nn.Module, spec: RunSpec) -> None:
        super().__init__()
        self.model = model
        self.spec = spec  # the run's config.json (`RunSpec`)
        self.family = spec.model
        self.class_names = list(spec.class_names)
        vocab = getattr(spec.model_config, "vocab", ()) or ()
        self.vocabulary: list[str] | None = list(vocab) if vocab else None
        self.sample_shape = tuple(spec.sample_shape)
        self.feature_names = spec.feature_names  # CSV runs: the columns, in input order
        self.layout = spec.layout
        self.pixel_max = spec.pixel_max
        if self.vocabulary is not None:
            self.input_dtype = torch.int64  # token ids
        elif spec.pixel_max is not None:
            self.input_dtype = torch.uint8  # stored pixels; float32 in [0, 1] works as well
        else:
            self.input_dtype = torch.float32
        std = spec.standardizer
        self.register_buffer("mean", torch.from_numpy(std.mean) if std else None, persistent=False)
        self.register_buffer("std", torch.from_numpy(std.std) if std else None, persistent=False)
        # regression: the targets' names and the training split's statistics (None: classes)
        targets = spec.targets if spec.train.regression else None
        self.targets: list[str] | None = list(targets["names"]) if targets else None
        self.output_name = "probabilities" if targets is None else "predictions"
        scale = [targets["std"], targets["mean"]] if targets else [None, None]
        for name, values in zip(("target_std", "target_mean"), scale, strict=True):
            tensor = torch.tensor(values, dtype=torch.float32) if values is not None else None
            self.register_buffer(name, tensor, persistent=False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Raw samples -> the network's input (token ids pass through)."""
        if self.vocabulary is not None:
            return x
        pixels = x.dtype == torch.uint8
        x = x.to(torch.float32)
        if self.pixel_max is not None and pixels:
            x = x / float(self.pixel_max)
        if self.mean is not None and self.std is not None:
            x = (x - self.mean) / self.std
        return to_layout_tensor(x, self.layout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.model(self.preprocess(x))  # (B, C), or (B, T) regression outputs
        if self.target_std is not None and self.target_mean is not None:
            return scores.float() * self.target_std + self.target_mean  # original units
        return torch.softmax(scores.float(), dim=1)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts -> token ids (B, T) as `dlcli predict` encodes them: the run's tokeniser and
        vocabulary, cut or right-padded to the training width T."""
        import numpy as np

        from dlcli.errors import InputError
        from dlcli.training.data.text import Vocabulary, encode, tokenize

        if self.vocabulary is None:
            raise InputError(f"this {self.family} model does not read text")
        width = self.sample_shape[0]
        ids = encode([tokenize(t) for t in texts], Vocabulary(self.vocabulary), width)
        if ids.shape[1] < width:
            ids = np.pad(ids, ((0, 0), (0, width - ids.shape[1])))
        return torch.from_numpy(ids)

    def exportable(self) -> RawInputModel:
        """A copy sharing the weights whose network traces for any batch size (and, for text,
        any length): the family's `exportable()` form where it has one."""
        rewrite = getattr(self.model, "exportable", None)
        if rewrite is None:
            return self
        device = next(self.model.parameters()).device
        return RawInputModel(rewrite(), self.spec).to(device).eval()

    def extra_repr(self) -> str:
        kind = "token ids" if self.vocabulary else str(self.input_dtype).replace("torch.", "")
        shape = "x".join(map(str, self.sample_shape))
        if self.targets is not None:
            return (
                f"{self.family}: {kind} (B, {shape}) -> predictions of {len(self.targets)} targets"
            )
        classes = len(self.class_names)
        return f"{self.family}: {kind} (B, {shape}) -> probabilities of {classes} classes"

"""Recurrent sequence classifiers: LSTM, GRU and the plain (Elman, tanh) RNN.

    dense input   x: (B, T, F) float       a sequence of T steps of F features (digits: 8 rows of 8)
    token input   x: (B, T) int64          token ids, right-padded with `pad_index` (0)
                  -> embedding (B, T, E)

    -> nn.LSTM / nn.GRU / nn.RNN, `num_layers` deep, dropout between layers, optionally
       bidirectional -> the last layer's final hidden state (B, dirs*H) -> linear -> logits.

Variable lengths are read off the padding (`lengths = (x != pad_index).sum(1)`), so a batch is just
the padded id tensor and the training loop needs no extra field. When the lengths in a batch differ,
the embedded batch is packed (`pack_padded_sequence`): the recurrence never runs over padding and
the final state of each sequence is the one after its own last token (for the backward direction,
after its first). Dense sequences all have the same length and are not packed.

The plain RNN is here to show why the LSTM's gated cell state exists: over long sequences its
gradient vanishes (see tests/bench/bench_long_memory.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError

if TYPE_CHECKING:
    import torch
    import torch.nn as nn

CELLS = ("lstm", "gru", "rnn")


@dataclass
class RecurrentConfig:
    """Everything that fixes the architecture; it goes into the run folder's config.json."""

    num_classes: int = 10
    cell: str = "lstm"  # lstm | gru | rnn
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0  # between stacked layers (and before the classifier); training only
    input_size: int = 8  # features per step, for dense input
    vocab_size: int = 0  # > 0: token input through an embedding table of this many rows
    embedding_dim: int = 64
    pad_index: int = 0
    freeze_embeddings: bool = False

    def validate(self) -> None:
        if self.cell not in CELLS:
            raise InputError(f"invalid --cell '{self.cell}': expected one of {', '.join(CELLS)}")
        if self.hidden_size < 1:
            raise InputError(
                f"invalid --hidden-size {self.hidden_size}: expected a positive integer"
            )
        if self.num_layers < 1:
            raise InputError(f"invalid --num-layers {self.num_layers}: expected a positive integer")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"invalid --dropout {self.dropout}: expected a probability in [0, 1)")
        if self.num_classes < 2:
            raise InputError(f"a classifier needs at least 2 classes, got {self.num_classes}")
        if self.vocab_size < 0 or self.embedding_dim < 1 or self.input_size < 1:
            raise InputError("invalid sequence input: sizes must be positive")

    @property
    def tokens(self) -> bool:
        return self.vocab_size > 0


def _modules() -> Any:
    """Define the nn.Module class on first use (torch is imported only here)."""
    global _MODULES
    if _MODULES is not None:
        return _MODULES
    import torch
    import torch.nn as nn
    from torch.nn.utils.rnn import pack_padded_sequence

    rnn_classes = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}

    class RecurrentClassifier(nn.Module):
        def __init__(self, config: RecurrentConfig) -> None:
            super().__init__()
            config.validate()
            self.config = config
            self.embedding: nn.Embedding | None = None
            input_size = config.input_size
            if config.tokens:
                self.embedding = nn.Embedding(
                    config.vocab_size, config.embedding_dim, padding_idx=config.pad_index
                )
                self.embedding.weight.requires_grad_(not config.freeze_embeddings)
                input_size = config.embedding_dim
            kwargs: dict[str, Any] = {}
            if config.cell == "rnn":
                kwargs["nonlinearity"] = "tanh"
            self.rnn = rnn_classes[config.cell](
                input_size,
                config.hidden_size,
                num_layers=config.num_layers,
                batch_first=True,
                bidirectional=config.bidirectional,
                # nn.LSTM applies it between layers only; with one layer it would only warn.
                dropout=config.dropout if config.num_layers > 1 else 0.0,
                **kwargs,
            )
            self.directions = 2 if config.bidirectional else 1
            self.dropout = nn.Dropout(config.dropout)
            self.fc = nn.Linear(self.directions * config.hidden_size, config.num_classes)
            if config.cell == "lstm":
                # Forget-gate bias 1 (Jozefowicz et al., 2015): remember by default at the start.
                h = config.hidden_size
                for name, param in self.rnn.named_parameters():
                    if name.startswith("bias_ih"):
                        with torch.no_grad():
                            param[h : 2 * h].fill_(1.0)

        def load_embeddings(self, vectors: torch.Tensor) -> None:
            """Copy a (vocab_size, embedding_dim) table in (pretrained word vectors)."""
            assert self.embedding is not None
            with torch.no_grad():
                self.embedding.weight.copy_(vectors)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            lengths = None
            if self.embedding is not None:
                # x: (B, T) ids, right-padded. An all-padding row (empty text) reads one pad step.
                lengths = (x != self.config.pad_index).sum(1).clamp_(min=1)  # (B,)
                longest = int(lengths.max())
                x = self.embedding(x[:, :longest])  # (B, T', E): no step is pure padding
                if int(lengths.min()) == longest:
                    lengths = None  # equal lengths: nothing to pack
            if lengths is not None:
                x = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, state = self.rnn(x)
            h_n = state[0] if isinstance(state, tuple) else state  # (layers*dirs, B, H)
            # The last layer's final state of each direction; packing makes it each sequence's own.
            last = h_n[-self.directions :].transpose(0, 1).reshape(h_n.shape[1], -1)  # (B, dirs*H)
            return self.fc(self.dropout(last))

    _MODULES = {"RecurrentClassifier": RecurrentClassifier}
    return _MODULES


_MODULES: dict[str, Any] | None = None


def build_recurrent(config: RecurrentConfig) -> nn.Module:
    """The model for `config` (fresh weights; load pretrained embeddings with `load_embeddings`)."""
    return _modules()["RecurrentClassifier"](config)

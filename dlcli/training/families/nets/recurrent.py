"""The recurrent network of the `lstm` family as nn.Modules: LSTM, GRU or the plain (Elman, tanh)
RNN over dense sequences or token ids, and its unpacked form for the exporters.

    dense input   x: (B, T, F) float       T steps of F features (digits: 8 rows of 8 pixels;
                                           a CSV time series: one value per step)
    token input   x: (B, T) int64          token ids, right-padded with 0 (<pad>)
                  -> embedding (B, T, E)

    -> nn.LSTM / nn.GRU / nn.RNN, `num_layers` deep, dropout between layers, optionally
       bidirectional -> the last layer's final hidden state (B, dirs*H) -> dropout -> linear.

Variable lengths are read off the padding (`lengths = (x != 0).sum(1)`), so a batch is just the
padded id tensor and the shared training loop needs no extra field. When the lengths in a batch
differ, the embedded batch is packed (`pack_padded_sequence`): the recurrence never runs over
padding, and the final state of each sequence is the one after its own last token (for the
backward direction, after its first). Dense sequences all have one length and are not packed.
Imports torch: `families/lstm.py` loads it on first use.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

PAD_INDEX = 0  # the id of <pad> (dlcli.training.data.text.Vocabulary puts it first)
RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RecurrentShape(Protocol):
    """What the network reads of its config (the family's `RecurrentConfig`)."""

    cell: str
    hidden_size: int
    num_layers: int
    bidirectional: bool
    dropout: float
    embedding_dim: int
    freeze_embeddings: bool


class RecurrentClassifier(nn.Module):
    """x: (B, T, F) float or (B, T) token ids -> class scores (B, num_classes)."""

    def __init__(
        self, config: RecurrentShape, input_size: int, vocab_size: int, num_classes: int
    ) -> None:
        super().__init__()
        self.config = config
        self.embedding: nn.Embedding | None = None
        if vocab_size:
            self.embedding = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=PAD_INDEX)
            self.embedding.weight.requires_grad_(not config.freeze_embeddings)
            input_size = config.embedding_dim
        self.rnn = RNN_CLASSES[config.cell](
            input_size,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            # PyTorch applies it between layers only; with one layer it would just warn.
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.directions = 2 if config.bidirectional else 1
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(self.directions * config.hidden_size, num_classes)
        if config.cell == "lstm":
            # Forget-gate bias 1 (Jozefowicz et al., 2015): remember by default at the start.
            # PyTorch's gate order in the bias: input, forget, cell, output.
            h = config.hidden_size
            with torch.no_grad():
                for name, param in self.rnn.named_parameters():
                    if name.startswith("bias_ih"):
                        param[h : 2 * h].fill_(1.0)

    def load_embeddings(self, vectors: torch.Tensor) -> None:
        """Copy a (vocab_size, embedding_dim) table in (pretrained word vectors)."""
        assert self.embedding is not None
        with torch.no_grad():
            self.embedding.weight.copy_(vectors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = None
        if self.embedding is not None:
            # x: (B, T) ids, right-padded. An all-padding row reads one <pad> step.
            lengths = (x != PAD_INDEX).sum(1).clamp_(min=1)  # (B,)
            longest = int(lengths.max())
            x = self.embedding(x[:, :longest])  # (B, T', E): no column is all padding
            if int(lengths.min()) == longest:
                lengths = None  # equal lengths: nothing to pack
        steps: torch.Tensor | PackedSequence = x
        if lengths is not None:
            steps = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(steps)
        h_n = state[0] if isinstance(state, tuple) else state  # (layers*dirs, B, H)
        # The last layer's final state per direction (packing: each sequence's own), in the
        # batch's original order.
        last = h_n[-self.directions :].transpose(0, 1).reshape(h_n.shape[1], -1)
        return self.fc(self.dropout(last))  # (B, dirs*H) -> (B, classes)

    def exportable(self) -> nn.Module:
        """This classifier in a form that exporters can trace (see `UnpackedRecurrent`); dense
        sequences (one length, never packed) trace as they are."""
        return UnpackedRecurrent(self) if self.embedding is not None else self


# --- export: the same classifier without packing ------------------------------------------------


class UnpackedRecurrent(nn.Module):
    """A `RecurrentClassifier` of token ids rewritten without `pack_padded_sequence`: the same
    class scores from tensor operations alone, so that tracing exporters (ONNX, TorchScript,
    `torch.export`) keep every batch size and sequence length and bake no data-dependent shape in.

    `RecurrentClassifier.forward` slices the batch to its longest text and packs it; both read
    the lengths as Python numbers, which a trace would freeze. Here each layer and direction is a
    one-layer recurrence over the whole padded batch, (B, T, .):
      forward direction   run over the padded rows as they are; a step depends only on earlier
                          steps, so the state at the text's last token (index length-1) is the
                          packed run's final state
      backward direction  run over each row reversed within its length (padding stays at the
                          end), which makes its state at index length-1 the state after the
                          first token; reversed back, step t lines up with token t for the next
                          layer, as the packed bidirectional output does
    Weights are shared with the classifier (not copied). Inputs (B, T) int64, any T >= 1.
    """

    def __init__(self, model: RecurrentClassifier) -> None:
        super().__init__()
        assert model.embedding is not None, "dense sequences need no unpacking"
        config = model.config
        self.embedding = model.embedding
        self.fc = model.fc
        self.directions = model.directions
        cells = []
        for layer in range(config.num_layers):
            for suffix in ("", "_reverse")[: self.directions]:
                cell = RNN_CLASSES[config.cell](
                    getattr(model.rnn, f"weight_ih_l{layer}").shape[1],
                    config.hidden_size,
                    batch_first=True,
                )
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    setattr(cell, f"{name}_l0", getattr(model.rnn, f"{name}_l{layer}{suffix}"))
                cells.append(cell)
        self.cells = nn.ModuleList(cells)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = (ids != PAD_INDEX).sum(1).clamp(min=1)  # (B,): an all-padding row reads one step
        steps = torch.arange(ids.shape[1], device=ids.device)[None, :]  # (1, T)
        # reversal within each row's length: an involution that leaves the padding in place
        flip = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)  # (B, T)
        last = (lengths - 1)[:, None, None]  # (B, 1, 1): index of each row's last token
        x = self.embedding(ids)  # (B, T, E)
        finals: list[torch.Tensor] = []
        for start in range(0, len(self.cells), self.directions):
            outputs, finals = [], []
            for d in range(self.directions):
                seq = x if d == 0 else _gather_steps(x, flip)
                out, _ = self.cells[start + d](seq)  # (B, T, H)
                finals.append(out.gather(1, last.expand(-1, 1, out.shape[2])).squeeze(1))
                outputs.append(out if d == 0 else _gather_steps(out, flip))
            x = torch.cat(outputs, dim=2)  # (B, T, dirs*H): the next layer's input
        return self.fc(torch.cat(finals, dim=1))  # (B, dirs*H) -> (B, classes); dropout: eval


def _gather_steps(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """x (B, T, F) with its steps taken in `order` (B, T) per row."""
    return x.gather(1, order[:, :, None].expand(-1, -1, x.shape[2]))

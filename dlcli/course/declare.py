"""What a lesson is: one declaration (`Lesson`), its steps (`Train`, `Features`), and what its
claim reads (`Run`: one run's metrics.json, history.csv, knobs and folder). Pure Python.

A lesson of one comparison names its data, fixed knobs, the knob that varies and the epochs;
`plan()` turns that into one `Train` step, an ordinary sweep into the lesson's folder. A
pipeline (train a ResNet, extract its features, train a linear classifier on them) gives its
`steps` instead. The claim is a function of the runs, in the order the steps trained them (a
sweep's runs in the order of the values that vary), returning (holds, text): the text says
what was measured, with the numbers, and what the lesson claims of them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

OUT = "{out}"  # in a step's data or run: the lesson's folder (data made by an earlier step)


@dataclass(frozen=True)
class Train:
    """Train the combinations of `vary` (each a list of values; none: one run) with `knobs`:
    `dlcli.sweep` into the lesson's folder, or its subfolder `folder`."""

    model: str
    data: str
    knobs: Mapping[str, Any]
    vary: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    folder: str = ""


@dataclass(frozen=True)
class Features:
    """Write the penultimate-layer features of a trained run (`run`, relative to the lesson's
    folder) on `data` as an .npz (`output`, ditto) that a later `Train` step reads."""

    run: str
    data: str
    output: str
    split: str = "all"


Step = Train | Features


@dataclass(frozen=True)
class Run:
    """One finished run as a claim reads it: metrics.json (`run["test_accuracy"]`), the
    history (`column`, `last`), the knobs that vary and the run folder (for its predictions)."""

    knobs: dict[str, Any]
    metrics: dict[str, Any]
    out: Path
    step: str = ""  # the step's folder in a pipeline lesson

    def __getitem__(self, key: str) -> Any:
        return self.metrics[key]

    @cached_property
    def history(self) -> list[dict[str, str]]:
        """history.csv's rows as text (one per epoch), read once."""
        text = (self.out / "history.csv").read_text()
        return list(csv.DictReader(io.StringIO(text, newline="")))

    def column(self, name: str) -> list[float]:
        """One column of history.csv as numbers (an empty cell: NaN)."""
        return [float(row[name]) if row.get(name) else math.nan for row in self.history]

    def last(self, name: str) -> float:
        """The last epoch's value of a history.csv column."""
        return self.column(name)[-1]

    def columns(self, prefix: str) -> list[str]:
        """history.csv's column names that start with `prefix` (e.g. 'grad_norm/'), in order."""
        return [name for name in self.history[0] if name.startswith(prefix)]

    def seconds_per_epoch(self) -> float:
        seconds = self.column("seconds")
        return sum(seconds) / len(seconds)


Claim = Callable[[list[Run]], tuple[bool, str]]


@dataclass(frozen=True)
class Lesson:
    """One of the lesson's comparisons: what `dlcli lesson run NAME` trains and checks.

    `figure` is the picture that shows it, relative to the lesson's folder; `train_curves`
    draws the sweep's curves.png with the training curves too (dashed)."""

    name: str
    summary: str  # one line: `dlcli lesson list`, the README
    claim: Claim
    figure: str
    data: str = ""
    knobs: Mapping[str, Any] = field(default_factory=dict)
    vary: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    epochs: int = 0
    model: str = "mlp"
    steps: tuple[Step, ...] = ()  # a pipeline, instead of data/knobs/vary/epochs
    train_curves: bool = False

    def plan(self) -> tuple[Step, ...]:
        """The steps: the pipeline's, or the one sweep the fields declare."""
        if self.steps:
            return self.steps
        knobs = {**self.knobs, "epochs": self.epochs}
        return (Train(self.model, self.data, knobs, self.vary),)

"""A sweep's rules: which knobs are swept, their combinations, each run's folder name, and the
flags that cannot go with a sweep. Pure Python, no torch and no training module: `dlcli.train`
(api.py) reads a list the way a sweep does through `combinations`, and the CLI asks `is_sweep`,
`one_run` and `check_sweep` before it calls `dlcli.train` or `dlcli.sweep`.

On the command line every option of `train` but the on/off flags may be repeated (the CLI turns
a value option into a list); a flag repeated with several values is swept, one repeated with
the same value (or given once) is that value.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dlcli.errors import InputError
from dlcli.training.compare import label


@dataclass
class Job:
    """One combination: its folder, its knobs, and what to do with it."""

    index: int
    name: str
    knobs: dict[str, Any]  # everything passed to dlcli.train (None: the default)
    varying: dict[str, Any]  # the swept knobs, as config.json spells their values
    out: Path
    action: str = "train"  # 'train' | 'resume' | 'keep' | 'failed'


class RunHooks(Protocol):
    """What a callback adds to hear about a sweep's runs (see the package docstring)."""

    def on_run_begin(self, index: int, total: int, name: str, logs: dict[str, Any]) -> None: ...
    def on_run_end(self, index: int, total: int, name: str, logs: dict[str, Any]) -> None: ...


def is_sweep(knobs: dict[str, Any]) -> bool:
    """Whether the knobs, as the command line gives them (a repeated flag is a list), ask for
    several runs: some knob holds several different values."""
    return any(isinstance(v, list) and len(set(map(str, v))) > 1 for v in knobs.values())


def one_run(knobs: dict[str, Any]) -> dict[str, Any]:
    """The knobs of one run: a flag given once (or the same value repeated) is that value, a
    flag not given (an empty list) None."""
    return {k: (v[0] if v else None) if isinstance(v, list) else v for k, v in knobs.items()}


def sweep_knobs(knobs: dict[str, Any]) -> dict[str, Any]:
    """The knobs for `dlcli.sweep`: a list of one value is that value, an empty one None (the
    default); the lists of several values are swept."""
    knobs = {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in knobs.items()}
    return {k: None if v == [] else v for k, v in knobs.items()}


def check_sweep(
    resume: str | None, launched: bool, tensorboard: bool = False, parallel: int = 1
) -> None:
    """The options a sweep cannot take: InputError naming the way to do it instead."""
    if resume is not None:
        raise InputError(
            "--resume continues one run; a sweep continues by running the same command "
            "again with the same --out"
        )
    if launched:
        raise InputError("a sweep trains its runs one by one: run it without torchrun (or --nproc)")
    if tensorboard and parallel > 1:
        raise InputError("--tensorboard writes from this process: run the sweep without --parallel")


def _unique(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def combinations(knobs: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(the swept names, one knob dict per combination); a list of one value is that value."""
    # a list inside a list is one value (hidden=[[3, 6], [20]]: two runs), as a tuple
    lists = {
        k: _unique([tuple(x) if isinstance(x, list) else x for x in v])
        for k, v in knobs.items()
        if isinstance(v, list)
    }
    names = [k for k, v in lists.items() if len(v) > 1 and k != "seed"]
    if len(lists.get("seed", [])) > 1:
        names.append("seed")
    base = {k: ((lists[k] or [None])[0] if k in lists else v) for k, v in knobs.items()}
    combos = [
        base | dict(zip(names, values, strict=True))
        for values in itertools.product(*(lists[k] for k in names))
    ]
    return names, combos


def folder_names(varying: list[dict[str, Any]]) -> list[str]:
    """Each combination's folder name, from its knobs (`hidden=6,seed=1`); names that would be
    the same (a '/' becomes '_': data=a/b.csv and data=a_b.csv) get a short hash of their knobs,
    so every run has a folder of its own, and the same one each time the command runs."""
    import hashlib

    names = [label(v).replace("/", "_") or "run" for v in varying]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    for i, (name, knobs) in enumerate(zip(names, varying, strict=True)):
        if counts[name] > 1:
            digest = hashlib.sha256(json.dumps(knobs, sort_keys=True).encode()).hexdigest()[:8]
            names[i] = f"{name}-{digest}"
    if len(set(names)) != len(names):  # only equal knobs hash alike, and those were merged
        raise InputError("two runs of this sweep would share a folder; give distinct values")
    return names

"""Real signatures and docstrings for the library's `**knobs` functions, built from the configs.

`dlcli.train`, `dlcli.sweep` and `dlcli.word2vec` take their knobs as `**knobs`: the config
dataclasses own the names and defaults, and a function that spelt them out again would be one
more place to forget a knob. So that `help(dlcli.train)`, `inspect.signature` and the editors
that introspect show every knob, `with_knobs` gives such a function a `__signature__` (an
`inspect.Signature` of the config fields: name, type, default) and appends one line per knob to
its docstring (the field's help text and its default).

A training knob's default is the library's where every family that has the knob agrees on it
(`batch_size=64`); where the families differ (`epochs`, `hidden`, `lr`, `optimizer`), the
signature shows None ("the family's default") and the docstring lists each family's value.
Pure Python, like the configs: importing it costs the calculators nothing.
"""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WIDTH = 100


@dataclass
class Knob:
    """One keyword of a `**knobs` function: what the signature and the docstring show."""

    name: str
    annotation: Any
    help: str
    # family (or "" for a function without families) -> that family's default
    defaults: dict[str, Any] = field(default_factory=dict)
    note: str | None = None  # replaces the default's text in the docstring (lr: per optimizer)

    @property
    def default(self) -> Any:
        """The library's default, or None where the families disagree on it."""
        values = list(self.defaults.values())
        return values[0] if all(v == values[0] for v in values) else None


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "0"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def training_knobs() -> list[Knob]:
    """Every knob of `dlcli train MODEL` over all families: the families' own knobs (in family
    order), then DataConfig's (but `source`, which is `data`), then TrainConfig's."""
    from dlcli.training.config import DataConfig, TrainConfig
    from dlcli.training.families import FAMILIES

    loop = {model: family.loop_defaults() for model, family in FAMILIES.items()}
    knobs: dict[str, Knob] = {}
    for owner in (*(family.config_cls for family in FAMILIES.values()), DataConfig, TrainConfig):
        hints = typing.get_type_hints(owner)
        for f in dataclasses.fields(owner):
            if not f.metadata.get("cli", True) or f.name == "source":
                continue
            knob = knobs.setdefault(f.name, Knob(f.name, hints[f.name], f.metadata["help"]))
            for model, family in FAMILIES.items():
                if owner is TrainConfig:
                    knob.defaults[model] = loop[model][f.name]
                elif owner in (family.config_cls, DataConfig):
                    knob.defaults[model] = f.default
    lr = knobs["lr"]
    lr.note = "; ".join(
        f"{model}: " + ", ".join(f"{v:g} {k}" for k, v in family.lr_table().items())
        for model, family in FAMILIES.items()
    )
    return list(knobs.values())


def word2vec_knobs() -> list[Knob]:
    """Every `Word2VecConfig` field but those the function names itself (model, corpus, out)."""
    from dlcli.wordvec.config import Word2VecConfig

    hints = typing.get_type_hints(Word2VecConfig)
    return [
        Knob(f.name, hints[f.name], "", {"": f.default})
        for f in dataclasses.fields(Word2VecConfig)
        if f.name not in ("model", "corpus", "out")
    ]


def _describe(knob: Knob, families: bool) -> str:
    """`name: help (default ...)`, one docstring entry (wrapped)."""
    values = {_show(v) for v in knob.defaults.values()}
    if knob.note is not None:
        default = f"default per optimizer, {knob.note}"
    elif len(values) == 1:
        default = f"default {values.pop()}"
        if families and len(knob.defaults) < _n_families():
            default = f"{', '.join(knob.defaults)} only; {default}"
    else:
        default = "default " + "; ".join(f"{m} {_show(v)}" for m, v in knob.defaults.items())
    if values == {"None"} and "(default" in knob.help:
        text = f"{knob.name}: {knob.help}"  # the help says what None means
    elif knob.help:
        text = f"{knob.name}: {knob.help} ({default})"
    else:
        text = f"{knob.name}: {default}"
    return _fill(text, "    ", "        ")


def _fill(text: str, first: str, rest: str) -> str:
    return textwrap.fill(
        text, WIDTH - 4, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    )


def _n_families() -> int:
    from dlcli.training.families import FAMILIES

    return len(FAMILIES)


def with_knobs(
    function: Callable[..., Any],
    knobs: list[Knob],
    intro: str,
    sweepable: bool = False,
    families: bool = True,
) -> None:
    """Give `function` (whose last parameter is `**knobs`) a signature listing every knob as a
    keyword-only parameter, and a docstring ending with one line per knob under `intro`.
    `sweepable`: each knob may also be a list (dlcli.sweep sweeps lists)."""
    signature = inspect.signature(function)
    explicit = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    taken = {p.name for p in explicit}
    params = []
    for k in knobs:
        if k.name in taken:
            continue
        annotation = k.annotation if k.default is not None else k.annotation | None
        if sweepable:
            annotation = annotation | types.GenericAlias(list, (k.annotation,))  # list[T]
        params.append(
            inspect.Parameter(k.name, inspect.Parameter.KEYWORD_ONLY, default=k.default,
                              annotation=annotation)
        )  # fmt: skip
    new = signature.replace(parameters=[*explicit, *params])
    function.__signature__ = new  # type: ignore[attr-defined]
    lines = [_describe(k, families) for k in knobs if k.name not in taken]
    doc = inspect.cleandoc(function.__doc__ or "")
    function.__doc__ = f"{doc}\n\n{_fill(intro, '', '')}\n\n" + "\n".join(lines)

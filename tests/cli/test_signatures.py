"""What a user reads before running anything: each `train` family's help examples are valid for
that family, and the library's `**knobs` functions show every knob with its default.
"""

from __future__ import annotations

import dataclasses
import inspect
import pydoc
import re
import shlex

import pytest
from conftest import assert_input_error, cli

import dlcli
from dlcli.training.config import DataConfig, TrainConfig
from dlcli.training.families import FAMILIES
from dlcli.wordvec.config import Word2VecConfig

# --- `dlcli train FAMILY --help`: its examples are its own ------------------------------------


def _help_examples(model: str) -> list[str]:
    result = cli("train", model, "--help")
    assert result.exit_code == 0, result.output
    text = re.sub(r" *\\\n[ │]*", " ", result.stdout)  # an example continued on the next line
    lines = [line.strip(" │") for line in text.splitlines()]
    return [
        line.split("  #")[0].strip() for line in lines if line.startswith(f"dlcli train {model}")
    ]


def _validate(model: str, argv: list[str]) -> int:
    """Parse `dlcli train MODEL ARGV` as the command does and build every run's configs (the
    validation training starts with); returns the number of runs."""
    import typer

    from dlcli.cli.app import app
    from dlcli.training.api import split_knobs
    from dlcli.training.sweep import combinations

    group = typer.main.get_command(app).commands["train"]
    with group.commands[model].make_context(model, argv) as ctx:
        knobs = dict(ctx.params)
    cli_only = ("out", "resume", "parallel", "nproc", "animate", "tensorboard", "json_out", "quiet")
    for name in cli_only:
        knobs.pop(name)
    # click gives a repeatable option as a tuple (() when not given); the command, a list
    knobs = {k: (list(v) or None) if isinstance(v, tuple) else v for k, v in knobs.items()}
    _, combos = combinations(knobs)
    for combo in combos:
        split_knobs(model, {("source" if k == "data" else k): v for k, v in combo.items()})
    return len(combos)


@pytest.mark.parametrize("model", list(FAMILIES))
def test_every_help_example_is_valid_for_its_family(model):
    examples = _help_examples(model)
    assert len(examples) >= 3, examples
    runs = [_validate(model, shlex.split(example)[3:]) for example in examples]
    # the sweep example repeats a knob of this family, and makes several runs
    name, values = FAMILIES[model].sweep_example
    flag = "--" + name.replace("_", "-")
    sweeps = [e for e, n in zip(examples, runs, strict=True) if n > 1]
    prefix = f"dlcli train {model} {FAMILIES[model].example_prefix}".rstrip() + " "
    assert sweeps == [prefix + " ".join(f"{flag} {v}" for v in values)]
    assert runs[examples.index(sweeps[0])] == len(values)


def test_no_family_shows_anothers_knob():
    """The issue's case: resnet and lstm showed `--hidden`, which they do not have."""
    for model in ("resnet", "lstm"):
        text = cli("train", model, "--help").stdout
        assert "--hidden " not in text, model
        assert _validate(model, []) == 1
    with pytest.raises(Exception, match="hidden"):
        _validate("resnet", ["--hidden", "3"])


# --- signatures built from the configs ----------------------------------------------------------


def _library_defaults() -> dict[str, dict[str, object]]:
    """knob -> {family: its default}, read straight from the dataclasses."""
    found: dict[str, dict[str, object]] = {}
    for model, family in FAMILIES.items():
        for owner in (family.config_cls, DataConfig, TrainConfig):
            for f in dataclasses.fields(owner):
                if f.metadata.get("cli", True) and f.name != "source":
                    default = family.loop_defaults()[f.name] if owner is TrainConfig else f.default
                    found.setdefault(f.name, {})[model] = default
    return found


@pytest.mark.parametrize("function", ["train", "sweep"])
def test_training_signature_lists_every_knob_with_its_default(function):
    signature = inspect.signature(getattr(dlcli, function))
    params = signature.parameters
    assert list(params)[:2] == ["model", "data"]
    assert "knobs" not in params  # no **knobs left to hide them
    doc = getattr(dlcli, function).__doc__
    shown = pydoc.render_doc(getattr(dlcli, function), renderer=pydoc.plaintext)  # help()
    for name, per_family in _library_defaults().items():
        param = params[name]
        assert param.kind is inspect.Parameter.KEYWORD_ONLY
        assert f"    {name}: " in shown and f"{name}: " in str(signature)
        values = list(per_family.values())
        if all(v == values[0] for v in values):
            assert param.default == values[0], name
        else:  # the family decides: None, and the docstring lists each family's default
            assert param.default is None, name
            entry = re.search(rf"\n {{4}}{name}: (.*?)(?=\n {{4}}\w|\Z)", doc, re.S)
            assert entry, name
            for model in per_family:
                assert model in entry.group(1), (name, model)
    assert params["depth"].default == 20 and params["batch_size"].default == 64
    assert "epochs: Training epochs. (default mlp 50; cnn 30; resnet 20; lstm 20; custom 10)" in doc
    assert "depth: Layers with weights" in doc and "resnet only; default 20" in doc


def test_word2vec_signature_is_word2vecconfigs():
    params = inspect.signature(dlcli.word2vec).parameters
    for f in dataclasses.fields(Word2VecConfig):
        if f.name in ("model", "corpus", "out"):
            continue
        assert params[f.name].default == f.default, f.name
        assert params[f.name].kind is inspect.Parameter.KEYWORD_ONLY
    assert "size: default 100" in pydoc.render_doc(dlcli.word2vec, renderer=pydoc.plaintext)


# --- a list is a sweep: dlcli.train refuses several values, and never reads them otherwise ------


def test_train_with_a_list_points_to_sweep(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(dlcli.InputError, match=r"dlcli\.sweep\('mlp', \.\.\., hidden=\[3, 6\]\)"):
        dlcli.train("mlp", "spiral", hidden=[3, 6], out=out)
    with pytest.raises(dlcli.InputError, match="dlcli.sweep"):
        dlcli.train("mlp", ["spiral", "digits"], out=out)
    assert not out.exists()
    # a list inside the list is one value, as in the sweep (and a sweep's run gets it whole)
    from dlcli.training.api import _one_run
    from dlcli.training.sweep import combinations

    assert _one_run("mlp", None, {"hidden": [[3, 6]]}) == (None, {"hidden": (3, 6)})
    _, combos = combinations({"hidden": [[3, 6]], "seed": [0, 1]})
    assert [_one_run("mlp", None, c)[1] for c in combos] == [
        {"hidden": (3, 6), "seed": 0},
        {"hidden": (3, 6), "seed": 1},
    ]
    # the command line: a repeated flag is the sweep, a single one is one run
    assert_input_error(cli("train", "mlp", "--hidden", "3", "--hidden", "x"), "--hidden 'x'")


def test_train_with_one_value_in_a_list_is_the_sweeps_one_run(tmp_path):
    """hidden=[6, 6] is one run with hidden 6 in both functions (not two layers of 6)."""
    knobs = {"data": "spiral:n=20", "epochs": 1, "threads": 1, "seed": 3}
    run = dlcli.train("mlp", hidden=[6, 6], out=tmp_path / "one", **knobs)
    swept = dlcli.sweep("mlp", hidden=[6, 6], out=tmp_path / "sweep", **knobs)
    assert run.to_dict()["params"] == swept.runs[0]["params"] == 2 * 6 + 6 + 6 * 3 + 3
    assert run.test_loss == swept.runs[0]["test_loss"]
    # a tuple is one value in both: two layers
    two = dlcli.train("mlp", hidden=(6, 6), out=tmp_path / "two", **knobs)
    assert two.to_dict()["params"] == 2 * 6 + 6 + 6 * 6 + 6 + 6 * 3 + 3


def test_no_public_function_hides_its_keywords():
    """Every function `import dlcli` offers shows its parameters: none is left with **kwargs."""
    hidden = []
    for name in dlcli.__all__:
        value = getattr(dlcli, name)
        if callable(value) and not isinstance(value, type):
            params = inspect.signature(value).parameters.values()
            hidden += [name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
    assert hidden == []

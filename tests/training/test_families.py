"""The model-family registry: every family registered once, in one place, read by everything;
and the guide in `dlcli/training/families/__init__.py` is true: its example family, registered
at run time, trains from the command line and its run rebuilds for `evaluate`.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from dlcli.errors import InputError
from dlcli.training import families
from dlcli.training.families import FAMILIES, get_family


def _guide_family(tmp_path):
    """The guide's example family file (its first `::` block), imported as a module."""
    doc = families.__doc__ or ""
    block = doc.split("::\n", 1)[1].split("\nand its line", 1)[0]
    path = tmp_path / "linear_family.py"
    path.write_text(textwrap.dedent(block))
    spec = importlib.util.spec_from_file_location("linear_family", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["linear_family"] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def linear_family(tmp_path, monkeypatch):
    module = _guide_family(tmp_path)
    monkeypatch.setitem(FAMILIES, "linear", module.FAMILY)
    yield module
    sys.modules.pop("linear_family", None)


def _invoke(*args: str):
    from dlcli.cli.app import build_app  # built now: the registry as the test left it

    return CliRunner().invoke(build_app(), list(args))


def test_the_guides_family_trains_from_the_cli_and_its_run_rebuilds(linear_family, tmp_path):
    help_text = _invoke("train", "linear", "--help")
    assert help_text.exit_code == 0, help_text.output
    assert "One Linear layer: the class scores are Wx + b." in help_text.stdout
    assert "--bias" in help_text.stdout and "--no-bias" in help_text.stdout
    assert "dlcli train linear --seed 0 --seed 1" in help_text.stdout  # the sweep paragraph
    assert "linear" in _invoke("train", "--help").stdout

    run = tmp_path / "run"
    result = _invoke("train", "linear", "-e", "3", "--threads", "1", "-o", str(run), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"] == "linear" and doc["epochs"] == 3
    assert doc["params"] == (64 + 1) * 10  # digits: 64 pixels, 10 classes
    assert doc["test_accuracy"] > 0.5
    assert json.loads((run / "config.json").read_text())["model_config"] == {"bias": True}

    again = _invoke("evaluate", str(run), "--json")  # rebuilt through the registry
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["accuracy"] == doc["test_accuracy"]

    plain = _invoke("train", "linear", "--no-bias", "-e", "1", "-o", str(tmp_path / "nb"), "-q")
    assert plain.exit_code == 0, plain.output
    config = json.loads((tmp_path / "nb" / "config.json").read_text())
    assert config["model_config"] == {"bias": False} and config["train"]["epochs"] == 1


def test_every_family_is_registered_once_and_read_from_the_registry():
    assert list(FAMILIES) == ["mlp", "cnn", "resnet", "lstm", "custom"]
    for name, family in FAMILIES.items():
        assert family.name == name
        assert family.config_cls.__module__ == f"dlcli.training.families.{name}"
        assert family.help.strip() and family.footprint is not None
    listing = _invoke("train", "--help").stdout
    assert all(f" {name} " in listing for name in FAMILIES)
    with pytest.raises(InputError, match="unknown model 'gan': expected one of mlp, cnn"):
        get_family("gan")


def test_reading_the_registry_imports_no_torch():
    code = (
        "import sys, dlcli.training.families as f; f.FAMILIES['lstm'].help; "
        "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("model", ["mlp", "cnn", "resnet", "lstm"])
def test_every_config_round_trips_through_json(model):
    from dlcli.training.config import config_from_dict, config_to_dict

    config_cls = get_family(model).config_cls
    saved = json.loads(json.dumps(config_to_dict(config_cls())))
    assert config_from_dict(config_cls, saved) == config_cls()


@pytest.mark.parametrize(
    ("model", "field", "value", "message"),
    [
        ("mlp", "hidden", [2.5], "'hidden' is [2.5], not tuple[int, ...]"),
        ("mlp", "hidden", None, "'hidden' is None, not tuple[int, ...]"),
        ("mlp", "dropout", True, "'dropout' is True, not <class 'float'>"),
        ("resnet", "augment", 1, "'augment' is 1, not <class 'bool'>"),
        ("lstm", "max_length", 1.5, "'max_length' is 1.5, not int | None"),
        ("lstm", "vocab", ["<pad>", 3], "'vocab' is ['<pad>', 3], not tuple[str, ...]"),
    ],
)
def test_a_saved_value_of_the_wrong_json_type_is_named(model, field, value, message):
    from dlcli.training.config import config_from_dict

    with pytest.raises(InputError) as error:
        config_from_dict(get_family(model).config_cls, {field: value})
    assert str(error.value) == message


def test_json_types_follow_the_type_hints():
    from dlcli.training.config import DataConfig, TrainConfig, config_from_dict

    assert config_from_dict(TrainConfig, {"lr": 1, "threads": None}).lr == 1  # an int is a float
    assert config_from_dict(DataConfig, {"image_size": [8, 6]}).image_size == (8, 6)
    assert config_from_dict(DataConfig, {"image_size": None}).image_size is None
    with pytest.raises(InputError, match="'lr' is inf"):
        config_from_dict(TrainConfig, {"lr": float("inf")})

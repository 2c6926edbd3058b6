"""The library face: `import dlcli` does what the CLI does, with the same defaults.

The oracle for the training functions is the CLI itself: the same knobs and seed through
`dlcli.train(...)` and through `dlcli train ...` must give the same metrics and byte-identical
weights, for every model family.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

import dlcli
from dlcli.training.config import DataConfig
from dlcli.training.families import FAMILIES, get_family


def test_import_dlcli_is_light():
    code = (
        "import sys, dlcli; dlcli.featsize; dlcli.receptive_field; dlcli.train; "
        "print(sorted(m for m in ('torch', 'numpy', 'gensim') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_calculators_as_functions_match_the_cli(invoke):
    assert dlcli.featsize(32, 5).output == (28,)
    assert dlcli.featsize("224x224", arch="resnet50").output == (7, 7)
    result = dlcli.featsize((32, 32), layers="conv5,maxpool2", in_channels=3)
    cli = invoke("featsize", "32x32", "--layers", "conv5,maxpool2", "--in-channels", "3", "--json")
    assert json.loads(cli.stdout) == json.loads(json.dumps(result.to_dict()))
    assert dlcli.featsize(7, 3, stride=2, kind="maxpool", ceil=True).output == (3,)
    field = dlcli.receptive_field(arch="vgg16")
    assert field.receptive_field == (212, 212)
    cli = invoke("receptive-field", "--arch", "vgg16", "--json")
    assert json.loads(cli.stdout) == json.loads(json.dumps(field.to_dict()))
    assert invoke("receptive-field", "--layers", "conv3,conv3,conv3", "-q").stdout == "7\n"
    with pytest.raises(dlcli.InputError, match="not several"):
        dlcli.featsize(32, 5, layers="conv3")


def test_every_default_lives_in_the_library():
    """The help of each `train` subcommand shows the library's defaults, per family."""
    from dlcli.cli.train.options import parameters

    assert get_family("resnet").train_config().optimizer == "sgd"
    assert get_family("resnet").train_config().lr == 0.1
    assert get_family("resnet").train_config(optimizer="adam").lr == 1e-3
    assert get_family("lstm").train_config().lr == 3e-3
    assert get_family("mlp").train_config(optimizer="SGD").lr == 1e-2
    for model, family in FAMILIES.items():
        helps = {p.name: p.annotation.__metadata__[0].help for p in parameters(model)}
        assert f"(default: {family.loop_defaults()['epochs']})" in helps["epochs"]
        lr_help = helps["lr"]
        for optimizer, lr in family.lr_table().items():
            assert f"{lr:g} {optimizer}" in lr_help
        for f in dataclasses.fields(family.config_cls):
            if f.metadata.get("cli", True) and f.default not in (None, False, True):
                assert "(default: " in helps[f.name], f.name
        assert helps["data"].endswith(f"(default: {DataConfig().source})")


def test_unknown_knob_is_a_type_error():
    with pytest.raises(TypeError, match="hiden"):
        dlcli.train("mlp", hiden="64")


# Each family, small and quick: (model, knobs as keyword arguments).
FAMILY_RUNS = [
    ("mlp", {"hidden": "16", "epochs": 2, "dropout": 0.1}),
    ("cnn", {"layers": "conv3p1-4,maxpool2", "hidden": "8", "epochs": 1}),
    ("resnet", {"depth": 8, "width": 4, "epochs": 1, "augment": True}),
    ("lstm", {"hidden_size": 8, "epochs": 1, "cell": "GRU"}),
]


def _flags(knobs: dict) -> list[str]:
    flags = []
    for key, value in knobs.items():
        flag = "--" + key.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    return flags


@pytest.mark.parametrize("model,knobs", FAMILY_RUNS, ids=[m for m, _ in FAMILY_RUNS])
def test_api_and_cli_train_the_same_model(tmp_path, invoke, model, knobs):
    api = dlcli.train(model, out=tmp_path / "api", seed=3, threads=1, **knobs)
    cli = invoke(
        "train", model, *_flags(knobs), "--seed", "3", "--threads", "1",
        "--out", str(tmp_path / "cli"), "--json",
    )  # fmt: skip
    assert cli.exit_code == 0, cli.stderr
    document = json.loads(cli.stdout)
    expected = api.to_dict()
    for key in ("seconds", "out"):
        document.pop(key), expected.pop(key)
    assert document == expected
    weights = [(tmp_path / run / "model.safetensors").read_bytes() for run in ("api", "cli")]
    assert weights[0] == weights[1]
    config = [json.loads((tmp_path / run / "config.json").read_text()) for run in ("api", "cli")]
    assert config[0]["train"] == config[1]["train"]
    assert config[0]["model_config"] == config[1]["model_config"]
    # evaluate through the library reproduces the run's test accuracy, as the CLI does
    assert dlcli.evaluate(tmp_path / "api").to_dict()["accuracy"] == api.test_accuracy


def test_resume_and_quiet(tmp_path, invoke):
    quiet = invoke(
        "train", "mlp", "--hidden", "8", "--epochs", "1", "--threads", "1", "-q",
        "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert quiet.exit_code == 0 and quiet.stdout == f"{tmp_path / 'r'}\n" and not quiet.stderr
    resumed = dlcli.resume(tmp_path / "r", epochs=2)
    assert resumed.epochs == 2
    assert invoke("evaluate", str(tmp_path / "r"), "-q").stdout.strip() == (
        f"{resumed.test_accuracy}"
    )

"""The torchvision zoo: for every classification model, `featsize --model`'s parameters equal
its default weights' `num_params` exactly, and its MACs their `_ops` (GFLOPS that count
multiply-adds, to three decimals) within 1 % or that rounding, at the weights' crop size.

torchvision is an optional test extra (never needed at run time): without it this file skips.
On these machines it loads as torch 2.14.1 + torchvision 0.29.1, in the second venv that
`.ci/run` builds to run the tests marked `torchvision`. No weight file is downloaded: the
metadata ships in torchvision's code.
"""

from __future__ import annotations

import pytest

torchvision = pytest.importorskip("torchvision")

from dlcli.inspection import inspect_model  # noqa: E402

pytestmark = pytest.mark.torchvision

NAMES = torchvision.models.list_models(module=torchvision.models)


def implied_arguments(name: str, weights) -> dict:
    """The arguments torchvision's builder sets when it is given `weights` (the
    `_ovewrite_named_param` calls in torchvision/models/*.py), as literals for a REF."""
    meta = weights.meta
    arguments = {"num_classes": len(meta["categories"])}
    if name.startswith("vit_"):
        arguments["image_size"] = meta["min_size"][0]
    if name.startswith("maxvit"):
        arguments["input_size"] = tuple(meta["min_size"])
    if name in ("inception_v3", "googlenet"):
        arguments.update(transform_input=True, init_weights=False)
    if name == "googlenet":  # built with aux heads for loading, which are then dropped
        arguments["aux_logits"] = False
    return arguments


def test_the_zoo_is_there():
    assert len(NAMES) >= 80 and "resnet50" in NAMES and "vit_h_14" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_params_and_macs_match_the_weights_metadata(name):
    weights = torchvision.models.get_model_weights(name).DEFAULT
    crop = weights.transforms().crop_size[0]
    arguments = ", ".join(f"{k}={v!r}" for k, v in implied_arguments(name, weights).items())
    result = inspect_model(f"torchvision.models:{name}({arguments})", (3, crop, crop))
    assert result.params == weights.meta["num_params"]
    ops = weights.meta["_ops"]
    gmacs = result.macs / 1e9
    assert abs(gmacs - ops) <= 0.01 * ops or round(gmacs, 3) == ops, (gmacs, ops)
    assert result.output == [1, len(weights.meta["categories"])]


def test_resnet50_against_torchinfo_and_the_flop_counter():
    """Two independent counts of one model: torchinfo's summary (params, multiply-adds on real
    tensors) and torch.utils.flop_counter (2 FLOPs per multiply-add) on meta tensors."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    result = inspect_model("torchvision.models:resnet50", "3x224x224")
    with torch.device("meta"):
        model = torchvision.models.resnet50()
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.empty(1, 3, 224, 224, device="meta"))
    assert 2 * result.macs == counter.get_total_flops()
    torchinfo = pytest.importorskip("torchinfo")
    stats = torchinfo.summary(torchvision.models.resnet50(), (1, 3, 224, 224), verbose=0)
    assert result.params == stats.total_params
    assert abs(result.macs - stats.total_mult_adds) <= 0.01 * stats.total_mult_adds


def test_cli_on_a_torchvision_model(invoke):
    import json

    result = invoke(
        "featsize",
        "--model",
        "torchvision.models:resnet18(num_classes=10)",
        "--input",
        "3x32x32",
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["output"] == [1, 10] and doc["uncounted"] == {}
    assert [row["name"] for row in doc["layers"]] == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "flatten()",
        "fc",
    ]


def test_regnet_is_built_on_the_cpu_with_a_note():
    result = inspect_model("torchvision.models:regnet_y_400mf", "3x224x224")
    assert any(note.startswith("built on the CPU, then moved to meta") for note in result.notes)


def test_readme_torchvision_example_is_real_output(tmp_path):
    """The README's ResNet-50 table is what the command prints (a ```text block: the README's
    console examples run without torchvision)."""
    import os
    import re
    import subprocess
    import sys

    from conftest import ROOT

    text = (ROOT / "README.md").read_text()
    block = re.search(
        r"```text\n\$ (dlcli featsize --model torchvision[^\n]*)\n(.*?)```", text, re.S
    )
    assert block, "README lost its torchvision example"
    command, expected = block.group(1), block.group(2)
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-m", "dlcli", *command.split()[1:]],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    got = "\n".join(line.rstrip() for line in (done.stdout + done.stderr).splitlines())
    assert done.returncode == 0 and got == expected.rstrip("\n")

"""`--log-grads`: each layer's gradient norm per epoch in history.csv (`grad_norm/NAME`), checked
against plain PyTorch autograd on the same batches; every family; resume continues the columns;
off by default. The lesson's claim ("sigmoid's gradient vanishes") runs at full length in
tests/training/test_lesson.py (`dlcli lesson run activation`).
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, cli

import dlcli
from dlcli.training.engine.callbacks import Callback

MODELS = ROOT / "tests" / "models" / "tiny.py"


def _history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _grad_columns(rows: list[dict[str, str]]) -> list[str]:
    return [k for k in rows[0] if k.startswith("grad_norm/")]


def _own_layers(net) -> list[str]:
    """The oracle's layers: modules holding parameters themselves, as named_modules lists them."""
    return [name or "model" for name, m in net.named_modules() if list(m.parameters(False))]


def _layer_norms(net) -> dict[str, float]:
    """Plain PyTorch: each layer's gradient, its parameters' .grad concatenated, L2 norm."""
    import torch

    norms = {}
    for name, module in net.named_modules():
        grads = [p.grad.flatten() for p in module.parameters(recurse=False)]
        if grads:
            norms[name or "model"] = float(torch.linalg.vector_norm(torch.cat(grads)))
    return norms


def _blobs(tmp_path: Path, n: int = 60) -> Path:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 4)) + y[:, None]).astype(np.float32)
    np.savez(tmp_path / "blobs.npz", x=x, y=y)
    return tmp_path / "blobs.npz"


class _Start(Callback):
    """Keeps a copy of the untrained network (the oracle trains it by hand)."""

    def on_train_begin(self, info):
        self.initial = copy.deepcopy(self.model)


def test_norms_equal_plain_autograd_on_the_same_batches(tmp_path):
    """One batch per epoch (the whole training split): plain autograd and torch.optim.Adam from
    the same initial weights give each epoch's gradients; their layer norms are history.csv's."""
    import torch

    data = _blobs(tmp_path)
    start = _Start()
    knobs = {"hidden": "8,8", "dropout": 0.0, "epochs": 3, "batch_size": 1000, "threads": 1}
    split = {"test_fraction": 0.0, "val_fraction": 0.0, "standardize": False}
    dlcli.train("mlp", str(data), out=tmp_path / "run", callbacks=[start], log_grads=True,
                **knobs, **split)  # fmt: skip
    rows = _history(tmp_path / "run")
    net = start.initial
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    arrays = np.load(data)
    x, y = torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"]).long()
    assert _grad_columns(rows) == [f"grad_norm/{n}" for n in _own_layers(net)]
    for row in rows:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        for name, norm in _layer_norms(net).items():
            assert float(row[f"grad_norm/{name}"]) == pytest.approx(norm, rel=1e-4)
        opt.step()


class _PerStep(Callback):
    """Each optimizer step's layer norms, read from the gradients the step used (Adam leaves
    .grad as it is): the epoch's value is their mean."""

    def __init__(self) -> None:
        self.steps: list[list[dict[str, float]]] = []

    def on_epoch_begin(self, epoch, logs):
        self.steps.append([])

    def on_batch_end(self, batch, logs):
        self.steps[-1].append(_layer_norms(self.model))


def test_the_epochs_value_is_the_mean_over_its_steps(tmp_path):
    steps = _PerStep()
    dlcli.train("mlp", str(_blobs(tmp_path)), out=tmp_path / "run", callbacks=[steps],
                hidden="8", epochs=2, batch_size=16, threads=1, log_grads=True)  # fmt: skip
    rows = _history(tmp_path / "run")
    assert len(steps.steps[0]) > 1
    for row, epoch in zip(rows, steps.steps, strict=True):
        for name in epoch[0]:
            mean = np.mean([step[name] for step in epoch])
            assert float(row[f"grad_norm/{name}"]) == pytest.approx(mean, rel=1e-4)


FAMILIES = [
    ("mlp", ["--hidden", "8"]),
    ("cnn", ["--layers", "conv3p1-4,maxpool2", "--hidden", "8"]),
    ("resnet", ["--depth", "8", "--width", "4"]),
    ("lstm", ["--hidden-size", "8"]),
    ("custom", ["--model", f"{MODELS}:Net(in_channels=1, width=6)"]),
]


@pytest.mark.parametrize(("family", "flags"), FAMILIES, ids=[f for f, _ in FAMILIES])
def test_every_family_logs_each_layer_in_model_order(tmp_path, family, flags):
    out = tmp_path / "run"
    result = cli("train", family, *flags, "--epochs", "1", "--threads", "1", "--log-grads",
                 "--json", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "grad_norm" not in result.stdout  # the --json document is the run's, unchanged
    rows = _history(out)
    names = [c.removeprefix("grad_norm/") for c in _grad_columns(rows)]
    assert names == _own_layers(dlcli.load_model(out).model)  # the trained net, unwrapped
    assert all(float(rows[0][f"grad_norm/{n}"]) > 0 for n in names)


def test_off_by_default_resume_continues_and_the_curves_get_a_panel(tmp_path):
    from PIL import Image

    plain, logged = tmp_path / "plain", tmp_path / "logged"
    dlcli.train("mlp", hidden="8", epochs=1, threads=1, out=plain)
    assert not _grad_columns(_history(plain))
    assert json.loads((plain / "config.json").read_text())["train"]["log_grads"] is False
    dlcli.train("mlp", hidden="8", epochs=2, threads=1, out=logged, log_grads=True)
    dlcli.resume(logged, epochs=4)
    rows = _history(logged)
    assert len(rows) == 4 and all(row["grad_norm/0"] not in ("", None) for row in rows)
    sizes = []
    for run in (plain, logged):
        with Image.open(run / "curves.png") as image:
            sizes.append(image.size)
    assert sizes[1][1] == 2 * sizes[0][1]  # the gradient panel below the two
    metrics = json.loads((logged / "metrics.json").read_text())
    assert not any("grad" in key for key in metrics)

"""--precision and --compile: bf16 trains on CPU and evaluates in the run's precision; what a
machine cannot run (float16 without CUDA, torch.compile without a C++ compiler) is refused with
one line before a run folder exists."""

from __future__ import annotations

import json
import shutil

import pytest

import dlcli
from tests.conftest import assert_input_error, cli

FAST = ("--epochs", "1", "--threads", "1", "--hidden", "16", "--json")


def test_bf16_trains_and_evaluate_reproduces_it_in_bf16(tmp_path):
    args = ("--epochs", "3", "--threads", "1", "--json", "--precision", "bf16")
    result = cli("train", "cnn", *args, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["precision"] == "bf16" and config["train"]["compile"] is False
    ev = dlcli.evaluate(tmp_path / "run")  # autocast as in training: the same numbers exactly
    assert (ev.accuracy, ev.loss) == (doc["test_accuracy"], doc["test_loss"])
    f32 = dlcli.train("cnn", epochs=3, threads=1, out=tmp_path / "f32")
    assert doc["test_accuracy"] > 0.8 and abs(f32.test_accuracy - doc["test_accuracy"]) < 0.05


def test_float16_needs_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        run = dlcli.train("mlp", epochs=1, hidden=16, precision="16-mixed", out=tmp_path / "r")
        assert run.test_accuracy > 0.5
        return
    result = cli("train", "mlp", *FAST, "--precision", "16-mixed", "--out", tmp_path / "r")
    assert_input_error(result, "--precision 16-mixed needs a CUDA GPU")
    assert not (tmp_path / "r").exists()


def test_compile_without_a_compiler_is_refused(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    result = cli("train", "mlp", *FAST, "--compile", "--device", "cpu", "--out", tmp_path / "r")
    assert_input_error(result, "--compile on CPU needs a C++ compiler")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile imports torch.jit
@pytest.mark.skipif(
    not any(shutil.which(c) for c in ("g++", "c++", "clang++")),
    reason="torch.compile on CPU needs a C++ compiler (the refusal is tested above)",
)
def test_compile_trains_like_eager(tmp_path):
    """A real torch.compile (~10-20 s here): the compiled model trains like the eager one."""
    knobs = {"epochs": 1, "threads": 1, "hidden": 16, "dropout": 0.0, "data": "spiral:n=90"}
    eager = dlcli.train("mlp", out=tmp_path / "eager", **knobs)
    fast = dlcli.train("mlp", out=tmp_path / "compiled", compile=True, **knobs)
    assert abs(fast.test_loss - eager.test_loss) < 1e-3

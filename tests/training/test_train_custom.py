"""`dlcli train custom --model REF`: a model from a file in the tests trains on dlcli's data,
then evaluates, predicts and resumes; the run pins the file's SHA-256; the output shape is
checked on the meta device before training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_input_error, cli, run_dlcli

from dlcli.modelref import file_sha256

MODELS = ROOT / "tests" / "models" / "tiny.py"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A copy of tests/models/tiny.py that a test may change without touching the original."""
    path = tmp_path_factory.mktemp("model") / "tiny.py"
    shutil.copy(MODELS, path)
    return path


@pytest.fixture(scope="module")
def custom_run(model_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "custom"
    result = cli(
        "train", "custom", "--model", f"{model_file}:Net(in_channels=1, width=6)",
        "--epochs", "2", "--threads", "1", "--json", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_trains_and_records_the_ref(custom_run, model_file):
    out, doc = custom_run
    assert doc["model"] == "custom" and doc["epochs"] == 2
    # Net(in_channels=1, width=6) for 10 classes: stem, block (conv + bn), head, mix
    assert doc["params"] == (6 * 9 + 6) + (6 * 6 * 9 + 6 + 12) + (6 * 10 + 10) + 100
    config = json.loads((out / "config.json").read_text())
    assert config["model_config"]["ref"] == f"{model_file}:Net(in_channels=1, width=6)"
    assert config["model_config"]["sha256"] == file_sha256(model_file)
    assert config["layout"] == "image" and config["input_shape"] == [1, 8, 8]
    assert 0.0 <= doc["test_accuracy"] <= 1.0


def test_evaluate_predict_resume(custom_run, tmp_path):
    out, doc = custom_run
    evaluated = cli("evaluate", out, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["accuracy"] == pytest.approx(doc["test_accuracy"])
    from dlcli.training.data import load_digits

    np.savez(tmp_path / "few.npz", x=load_digits().x[:4, 0])
    predicted = cli("predict", out, tmp_path / "few.npz", "--json")
    assert predicted.exit_code == 0, predicted.output
    assert len(json.loads(predicted.stdout)["predictions"]) == 4
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(out, resumed_dir)
    resumed = cli("train", "custom", "--resume", resumed_dir, "--epochs", "3", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["epochs"] == 3
    history = (resumed_dir / "history.csv").read_text().strip().splitlines()
    assert len(history) == 1 + 3


def test_a_changed_file_is_refused(custom_run, model_file, tmp_path):
    out, _ = custom_run
    run = tmp_path / "run"
    shutil.copytree(out, run)
    original = model_file.read_text()
    try:
        model_file.write_text(original + "\n# changed\n")
        for args in (["evaluate", run], ["train", "custom", "--resume", run, "--epochs", "3"]):
            assert_input_error(cli(*args), "has changed since this run started")
    finally:
        model_file.write_text(original)


def test_output_shape_is_checked_before_training(tmp_path):
    result = cli(
        "train", "custom", "--model", f"{MODELS}:Net(classes=3, in_channels=1)",
        "--epochs", "1", "--out", tmp_path / "run",
    )  # fmt: skip
    assert_input_error(result, "shape 1x8x8", "to 1x3", "(N, 10) class scores")
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_flat_data_and_ref_errors(tmp_path, blobs_csv):
    result = cli(
        "train", "custom", "--model", f"{MODELS}:Flat(features=3, classes=3)", "--data",
        blobs_csv, "--target", "species", "--epochs", "2", "--threads", "1", "--json",
        "--out", tmp_path / "flat",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "flat" / "config.json").read_text())["layout"] == "flat"
    assert_input_error(cli("train", "custom", "--epochs", "1"), "--model REF")
    assert_input_error(
        cli("train", "custom", "--model", f"{MODELS}:Nett", "--epochs", "1"), "did you mean Net"
    )


@pytest.mark.slow
def test_subprocess_and_featsize_of_the_run(custom_run):
    out, doc = custom_run
    done = run_dlcli("featsize", "--model", str(out), "--json")
    assert done.returncode == 0, done.stderr
    described = json.loads(done.stdout)
    assert described["input"] == [1, 1, 8, 8] and described["params"] == doc["params"]


def test_readme_model_section_runs_as_written(tmp_path):
    """The README's `train custom` commands, as a user types them (in a fresh folder)."""
    from conftest import ROOT, readme_commands

    (tmp_path / "sample_data").mkdir()
    shutil.copy(ROOT / "sample_data" / "mynet.py", tmp_path / "sample_data" / "mynet.py")
    commands = readme_commands("model")
    assert any("train custom" in c for c in commands)
    for command in commands:
        done = run_dlcli(*command.split()[1:], cwd=tmp_path)
        assert done.returncode == 0, (command, done.stderr)
    assert json.loads((tmp_path / "runs" / "mynet" / "config.json").read_text())["epochs_done"] == 3

"""`dlcli train mlp|cnn`: the loop, the run folder, resume, determinism, errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from dlcli.cli.app import app

runner = CliRunner()


def test_train_mlp_writes_a_run_folder(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "mlp", "--epochs", "2", "--threads", "1", "--json",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"] == "mlp" and doc["epochs"] == 2 and 0 <= doc["test_accuracy"] <= 1
    for name in ("config.json", "model.safetensors", "history.csv", "curves.png", "metrics.json",
                 "checkpoint.safetensors"):
        assert (out / name).is_file(), name

"""`dlcli train --tensorboard`: event files in RUN/tensorboard/, read back by TensorBoard's own
EventAccumulator and checked against history.csv (the loop's record of every epoch)."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import assert_input_error


def events(run: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """split -> tag -> [(step, value)] as TensorBoard reads them."""
    found = {}
    for split in ("train", "validation"):
        accumulator = EventAccumulator(str(run / "tensorboard" / split))
        accumulator.Reload()
        found[split] = {
            tag: [(e.step, e.value) for e in accumulator.Scalars(tag)]
            for tag in accumulator.Tags()["scalars"]
        }
    return found


def history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv") as fh:
        return list(csv.DictReader(fh))


def assert_matches_history(run: Path) -> dict:
    rows = history(run)
    found = events(run)
    for split, prefix in (("train", ""), ("validation", "val_")):
        for name in ("loss", "accuracy"):
            points = found[split][name]
            assert [step for step, _ in points] == [int(r["epoch"]) for r in rows]
            for (_, value), row in zip(points, rows, strict=True):
                # history.csv keeps 6 significant digits (within 5e-6), the events float32
                assert math.isclose(value, float(row[prefix + name]), rel_tol=1e-5)
    return found


def test_tensorboard_events_match_history_and_resume_appends(invoke, tmp_path):
    """Loss and accuracy per epoch as history.csv has them, lr as the schedule sets it, a
    gradient norm per epoch; a resumed run adds its epochs once each."""
    run = tmp_path / "run"
    args = ["--epochs", "3", "--threads", "1", "--lr", "0.01", "--lr-schedule", "step:20"]
    result = invoke("train", "mlp", *args, "--tensorboard", "--out", str(run), "-q")
    assert result.exit_code == 0, result.output
    found = assert_matches_history(run)
    # 1437 training rows / 64 = 23 steps per epoch: steps 0-19 at 0.01, then 0.001
    assert found["train"]["lr"] == [(1, pytest.approx(0.01)), (2, pytest.approx(0.001))] + [
        (3, pytest.approx(0.001))
    ]
    norms = found["train"]["grad_norm"]
    assert [s for s, _ in norms] == [1, 2, 3] and all(v > 0 for _, v in norms)
    assert "lr" not in found["validation"]
    result = invoke("train", "mlp", "--resume", str(run), "--epochs", "5", "--tensorboard", "-q")
    assert result.exit_code == 0, result.output
    found = assert_matches_history(run)
    assert [s for s, _ in found["train"]["grad_norm"]] == [1, 2, 3, 4, 5]
    # the folder is the run's own: `--out` on it is refused as for any finished run
    again = invoke("train", "mlp", "--out", str(run))
    assert again.exit_code == 2 and "finished" in again.stderr


def test_tensorboard_missing_is_one_line_before_training(invoke, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    out = tmp_path / "run"
    line = assert_input_error(invoke("train", "mlp", "--tensorboard", "--out", str(out)))
    assert "pip install 'dlcli[tensorboard]'" in line
    assert not out.exists()


def test_tensorboard_in_a_sweep_writes_each_run(invoke, tmp_path):
    """A sweep's runs each get their own events (one writer, reopened per run folder)."""
    out = tmp_path / "sweep"
    args = ["--hidden", "4", "--hidden", "8", "--epochs", "2", "--threads", "1"]
    result = invoke("train", "mlp", *args, "--tensorboard", "--out", str(out), "-q")
    assert result.exit_code == 0, result.output
    runs = sorted(p.parent for p in out.glob("*/history.csv"))
    assert len(runs) == 2
    for run in runs:
        assert_matches_history(run)
    parallel = invoke("train", "mlp", *args, "--parallel", "2", "--tensorboard", "--out", str(out))
    assert_input_error(parallel, "--tensorboard", "--parallel")


def test_tensorboard_logs_each_layers_gradient_norm_with_log_grads(invoke, tmp_path):
    """--log-grads' per-layer norms (history.csv's grad_norm/NAME columns) reach TensorBoard
    too, with history.csv's values."""
    run = tmp_path / "run"
    args = ["--epochs", "2", "--threads", "1", "--log-grads", "--tensorboard"]
    result = invoke("train", "mlp", *args, "--out", str(run), "-q")
    assert result.exit_code == 0, result.output
    rows = history(run)
    columns = [c for c in rows[0] if c.startswith("grad_norm/")]
    assert len(columns) == 3  # the default mlp: two hidden layers and the classifier
    found = events(run)["train"]
    for column in columns:
        values = [value for _, value in found[column]]
        expected = [float(row[column]) for row in rows]
        assert values == pytest.approx(expected, rel=1e-5)

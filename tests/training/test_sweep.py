"""Sweeps (a repeated flag), their resume, `compare`, the pictures and `--animate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_input_error, cli

import dlcli
from dlcli.cli.train import progress

SWEEP = (
    "train", "mlp", "--data", "spiral:n=30", "--hidden", "3", "--hidden", "6",
    "--weight-decay", "0", "--weight-decay", "0.1", "--seed", "0", "--seed", "1",
    "--epochs", "2", "--threads", "1",
)  # fmt: skip
METRIC_KEYS = ("train_loss", "val_loss", "test_loss", "train_accuracy", "test_accuracy")


def _metrics(document: dict) -> list[tuple]:
    return [(r["name"], *(r[k] for k in METRIC_KEYS)) for r in document["runs"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict]:
    """The 2 x 2 knobs x 2 seeds sweep, uninterrupted: (its folder, its --json document)."""
    out = tmp_path_factory.mktemp("sweep") / "ref"
    result = cli(*SWEEP, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_repeated_flags_sweep_their_product(reference):
    out, doc = reference
    names = [r["name"] for r in doc["runs"]]
    assert names[:3] == [
        "hidden=3,weight-decay=0,seed=0",
        "hidden=3,weight-decay=0,seed=1",
        "hidden=3,weight-decay=0.1,seed=0",
    ]
    assert len(names) == 8 and doc["out"] == str(out)
    assert doc["runs"][0]["knobs"] == {"hidden": [3], "weight_decay": 0.0, "seed": 0}
    # each run folder is an ordinary run: its metrics.json is the run's document
    for run in doc["runs"]:
        saved = json.loads((Path(run["out"]) / "metrics.json").read_text())
        assert saved["test_accuracy"] == run["test_accuracy"]
    assert len(doc["summary"]) == 4 and doc["summary"][0]["runs"] == 2
    first = [r["test_loss"] for r in doc["runs"][:2]]
    assert doc["summary"][0]["test_loss"] == pytest.approx(sum(first) / 2)
    assert doc["summary"][0]["test_loss_std"] == pytest.approx(abs(first[0] - first[1]) / 2**0.5)
    for name in ("sweep.json", "sweep.csv", "curves.png", "boundaries.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "sweep.json").read_text()) == doc
    assert len((out / "sweep.csv").read_text().splitlines()) == 9
    # a single run of a sweep's combination reproduces it (the folder is a plain run)
    again = dlcli.train("mlp", "spiral:n=30", hidden="6", weight_decay=0.1, seed=1, epochs=2,
                        threads=1, out=out.parent / "single")  # fmt: skip
    assert again.test_loss == doc["runs"][-1]["test_loss"]


def test_sweep_table_progress_and_quiet(reference, tmp_path):
    out, _ = reference
    result = cli(*SWEEP, "--out", out)  # everything finished: kept, not retrained
    assert result.exit_code == 0, result.output
    assert "run 2/8: hidden=3,weight-decay=0,seed=1 (finished: kept)" in result.stderr
    assert "0.333 ±" in result.stdout and "weight-decay" in result.stdout
    quiet = cli(*SWEEP, "--out", out, "-q")
    assert quiet.stdout == f"{out}\n" and quiet.stderr == ""


def test_interrupted_sweep_resumes_to_the_same_result(reference, tmp_path, monkeypatch):
    _, want = reference
    out = tmp_path / "sweep"
    epochs_seen = []

    def stop_in_the_third_run(self, epoch, logs):
        epochs_seen.append(epoch)
        if len(epochs_seen) == 5:  # run 3, epoch 1
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(progress.LogProgress, "on_epoch_end", stop_in_the_third_run)
        result = cli(*SWEEP, "--out", out)
    assert result.exit_code == 130
    lines = result.stderr.strip().splitlines()
    assert "2 of 8 runs finished" in lines[-1] and f"--out {out}" in lines[-1]
    third = out / "hidden=3,weight-decay=0.1,seed=0"
    assert json.loads((third / "config.json").read_text())["status"] == "interrupted"
    result = cli(*SWEEP, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    assert "(resumed)" in result.stderr and "(finished: kept)" in result.stderr
    got = json.loads(result.stdout)
    assert _metrics(got) == _metrics(want)
    assert [s["test_loss"] for s in got["summary"]] == [s["test_loss"] for s in want["summary"]]


def test_sweep_refuses_a_folder_of_other_runs_and_resume(reference):
    out, _ = reference
    changed = [a if a != "2" else "3" for a in SWEEP]  # --epochs 3
    assert_input_error(cli(*changed, "--out", out), "hidden=3,weight-decay=0,seed=0", "epochs")
    assert_input_error(cli(*SWEEP, "--resume", out), "same command")


def test_compare_runs_and_sweeps(reference, tmp_path):
    out, doc = reference
    result = cli("compare", out, "--sort", "test_loss", "--json", "--plot", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["knobs"] == ["hidden", "weight_decay", "seed"]
    losses = [r["test_loss"] for r in got["runs"]]
    assert losses == sorted(losses) and len(losses) == 8
    assert (tmp_path / "c.png").is_file() and (tmp_path / "c-boundaries.png").is_file()
    # two runs: only the knob that differs is a column
    pair = cli("compare", doc["runs"][0]["out"], doc["runs"][4]["out"])
    assert pair.exit_code == 0 and "hidden" in pair.stdout and "seed" not in pair.stdout
    assert_input_error(cli("compare", out, "--sort", "nope"), "test_accuracy", "hidden")
    assert_input_error(cli("compare", tmp_path / "missing"), "missing")


def test_animate_draws_the_boundary_without_changing_the_run(tmp_path):
    from PIL import Image

    args = ("train", "mlp", "--data", "spiral:n=30", "--epochs", "3", "--threads", "1", "--json")
    plain = cli(*args, "--out", tmp_path / "plain")
    animated = cli(*args, "--out", tmp_path / "animated", "--animate")
    assert animated.exit_code == 0, animated.output
    a, b = json.loads(plain.stdout), json.loads(animated.stdout)
    assert [a[k] for k in METRIC_KEYS] == [b[k] for k in METRIC_KEYS]
    with Image.open(tmp_path / "animated" / "boundary.gif") as gif:
        assert gif.n_frames == 4  # the untrained net, then epochs 1-3
    bad = cli("train", "mlp", "--epochs", "1", "--animate", "--out", tmp_path / "digits")
    assert_input_error(bad, "--animate needs 2-D data")
    assert not (tmp_path / "digits").exists()


def test_parallel_sweep_gives_the_serial_results(reference, tmp_path):
    _, want = reference
    args = list(SWEEP)
    args[args.index("--seed") : args.index("--seed") + 4] = ["--seed", "0"]  # 4 runs
    result = cli(*args, "--out", tmp_path / "p", "--parallel", "2", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.count(" done: ") == 4
    got = {r["name"] + ",seed=0": r for r in json.loads(result.stdout)["runs"]}
    for run in want["runs"]:
        if run["name"] in got:
            assert got[run["name"]]["test_loss"] == run["test_loss"]
    assert len(got) == 4


def test_the_readmes_sweeps_differ_visibly(tmp_path, monkeypatch):
    """The README's sweep examples (its `$ dlcli train` lines, run here with one thread) train
    runs whose test accuracies spread over at least 0.1 in each sweep: the knobs show."""
    import re
    import shlex

    from conftest import ROOT

    text = (ROOT / "README.md").read_text()
    section = text[text.index("<!-- section:sweep -->") : text.index("<!-- /section:sweep -->")]
    commands = re.findall(r"^\$ dlcli (train .*)$", section, flags=re.M)
    assert len(commands) == 2
    monkeypatch.chdir(tmp_path)
    for command in commands:
        args = shlex.split(command)
        result = cli(*args, "--threads", "1")
        assert result.exit_code == 0, result.output
        compared = dlcli.compare(args[args.index("--out") + 1])
        accuracy = [run["test_accuracy"] for run in compared.runs]
        assert len(accuracy) >= 3 and max(accuracy) - min(accuracy) >= 0.1, accuracy
        # and the differences come from the knobs that vary: one column each
        assert set(compared.knobs) <= {"hidden", "weight_decay", "seed"}

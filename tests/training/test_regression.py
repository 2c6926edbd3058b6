"""Regression (`--loss mse|mae|huber`), checked against numpy: a linear model's coefficients and
R² against `lstsq`; MSE, RMSE, MAE and R² against hand formulas on `dlcli predict`'s
predictions of the same split; every family learns numeric targets; evaluate, predict, compare,
sweeps, resume, features and export of a regression run; the errors of a target that does not fit
the loss; the README's regression example."""

from __future__ import annotations

import csv
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_input_error, cli, readme_commands
from safetensors.numpy import load_file

from dlcli.training.config import REGRESSION_LOSSES
from dlcli.training.data.tables import csv_table

MODELS = ROOT / "tests" / "models" / "tiny.py"
HISTORY = "epoch,loss,mse,rmse,mae,r2,val_loss,val_mse,val_rmse,val_mae,val_r2,seconds".split(",")
SPLIT_KEYS = ("mse", "rmse", "mae", "r2")


def _write_csv(path: Path, header: list[str], rows: np.ndarray) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([[f"{v:.7g}" for v in row] for row in rows])
    return path


@pytest.fixture(scope="module")
def linear_csv(tmp_path_factory) -> Path:
    """y = 2a - 0.3b + 5c + 1.5 and z = 0.5a + 0.1b - 2c - 3 (+ noise), features on scales 1,
    10 and 0.1."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)) * [1.0, 10.0, 0.1]
    y = x @ [2.0, -0.3, 5.0] + 1.5 + rng.normal(size=400) * 0.1
    z = x @ [0.5, 0.1, -2.0] - 3.0 + rng.normal(size=400) * 0.1
    path = tmp_path_factory.mktemp("reg") / "linear.csv"
    return _write_csv(path, ["a", "b", "c", "y", "z"], np.c_[x, y, z])


@pytest.fixture(scope="module")
def curve_csv(tmp_path_factory) -> Path:
    """A noisy nonlinear 1-D target (a net's predictions are not exact: the formulas matter)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(300, 2))
    y = np.sin(3 * x[:, 0]) + x[:, 1] ** 2 + rng.normal(size=300) * 0.1
    z = x[:, 0] * x[:, 1] + rng.normal(size=300) * 0.05
    path = tmp_path_factory.mktemp("reg") / "curve.csv"
    return _write_csv(path, ["u", "v", "y", "z"], np.c_[x, y, z])


def _train(*args) -> dict:
    result = cli("train", *args, "--threads", "1", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _json(*args) -> dict:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    """1 - SSE/SST per target about its own mean, averaged uniformly (scikit-learn's default)."""
    sse = ((y - pred) ** 2).sum(0)
    sst = ((y - y.mean(0)) ** 2).sum(0)
    return float(np.mean(1 - sse / sst))


# --- the linear model against lstsq ------------------------------------------------------------


def test_linear_model_recovers_lstsq(linear_csv, tmp_path):
    out = tmp_path / "lin"
    table = np.loadtxt(linear_csv, delimiter=",", skiprows=1)[:, :4]  # a, b, c, y
    data = _write_csv(tmp_path / "abcy.csv", ["a", "b", "c", "y"], table)
    # full-batch gradient descent on standardised inputs converges to the least-squares fit
    doc = _train(
        "mlp", "--data", data, "--target", "y", "--loss", "mse", "--hidden", "0",
        "--optimizer", "sgd", "--lr", "0.2", "--batch-size", "1000", "--epochs", "300",
        "--test-fraction", "0", "--val-fraction", "0", "--out", out,
    )  # fmt: skip
    assert doc["task"] == "regression" and doc["targets"] == ["y"]
    table = np.loadtxt(data, delimiter=",", skiprows=1)  # the values as the file holds them
    y = table[:, 3]
    design = np.c_[table[:, :3], np.ones(len(y))]
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    # the weights, undone: the model sees (x - mu) / sd and learns (y - m) / s
    config = json.loads((out / "config.json").read_text())
    mu = np.array(config["standardize"]["mean"])
    sd = np.array(config["standardize"]["std"])
    m, s = config["targets"]["mean"][0], config["targets"]["std"][0]
    weights = load_file(out / "model.safetensors")
    (w_name,) = [k for k in weights if k.endswith("weight")]
    w = weights[w_name].astype(np.float64)[0]
    b = float(weights[w_name.replace("weight", "bias")][0])
    slope = w * s / sd
    intercept = m + s * (b - float((w * mu / sd).sum()))
    assert slope == pytest.approx(coef[:-1], rel=1e-3, abs=1e-4)
    assert intercept == pytest.approx(coef[-1], rel=1e-3, abs=1e-4)
    # R² of the fit on the same rows, through evaluate, against lstsq's
    residual = y - design @ coef
    r2_lstsq = 1 - residual @ residual / ((y - y.mean()) @ (y - y.mean()))
    evaluated = _json("evaluate", out, "--data", data)
    assert evaluated["r2"] == pytest.approx(r2_lstsq, abs=1e-5)


# --- metrics against hand formulas on predict's predictions ------------------------------------


def _test_rows(out: Path, data: Path, tmp_path: Path) -> tuple[Path, np.ndarray]:
    """The run's test split of `data` as a CSV (its rows, via the run's own split rule), and
    the true targets (N, T)."""
    from dlcli.training.runs.spec import load_data, read_spec, run_split

    spec, _ = read_spec(out)
    dataset = load_data(spec.model, spec.model_config, spec.data, spec.train)
    test = run_split(spec, dataset, spec.train.seed).test
    with open(data, newline="") as fh:
        rows = list(csv.reader(fh))
    path = tmp_path / "test-rows.csv"
    _write_csv(path, rows[0], np.array(rows[1:], dtype=np.float64)[test])
    return path, np.asarray(dataset.y[test], dtype=np.float64)


@pytest.mark.parametrize("target", ["y", "y,z"])
def test_metrics_are_the_formulas_on_predictions(curve_csv, tmp_path, target):
    out = tmp_path / "run"
    doc = _train(
        "mlp", "--data", curve_csv, "--target", target, "--loss", "mse", "--hidden", "16",
        "--lr", "0.01", "--epochs", "15", "--out", out,
    )  # fmt: skip
    names = target.split(",")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == doc
    assert metrics["targets"] == names
    assert all(metrics[f"{s}_accuracy"] is None for s in ("train", "val", "test"))
    assert all(
        metrics[f"{s}_{k}"] is not None for s in ("train", "val", "test") for k in SPLIT_KEYS
    )
    weights = load_file(out / "model.safetensors")
    last = sorted(k for k in weights if k.endswith("weight"))[-1]
    assert weights[last].shape[0] == len(names)  # one output per target
    rows, y = _test_rows(out, curve_csv, tmp_path)
    predicted = _json("predict", out, rows)
    assert predicted["targets"] == names
    pred = np.array([p["prediction"] for p in predicted["predictions"]])  # (N, T)
    assert pred.shape == y.shape
    assert_input_error(cli("predict", out, rows, "--top", "2"), "regression run", "drop --top")
    err = y - pred
    assert metrics["test_mse"] == pytest.approx(np.mean(err**2), rel=1e-5)
    assert metrics["test_rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-5)
    assert metrics["test_mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-5)
    assert metrics["test_r2"] == pytest.approx(_r2(y, pred), abs=1e-5)
    # evaluate reproduces the run's test numbers exactly; its residuals are y - prediction
    evaluated = _json("evaluate", out)
    assert evaluated["task"] == "regression" and evaluated["n"] == len(y)
    assert [evaluated[k] for k in SPLIT_KEYS] == [metrics[f"test_{k}"] for k in SPLIT_KEYS]
    assert "per_class" in evaluated and evaluated["confusion"] == []
    for t, stats in enumerate(evaluated["residuals"]):
        assert stats["target"] == names[t]
        assert stats["mean"] == pytest.approx(err[:, t].mean(), abs=1e-5)
        assert stats["std"] == pytest.approx(err[:, t].std(), rel=1e-4)
        assert stats["q50"] == pytest.approx(np.median(err[:, t]), abs=1e-5)
        assert stats["max"] == pytest.approx(err[:, t].max(), abs=1e-5)
    # the history: the contract's columns, R² and RMSE per epoch
    with open(out / "history.csv", newline="") as fh:
        history = list(csv.DictReader(fh))
    assert list(history[0]) == HISTORY and len(history) == 15


# --- every family -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_npz(tmp_path_factory) -> Path:
    rng = np.random.default_rng(2)
    x = rng.random((90, 1, 8, 8)).astype(np.float32)
    y = x.mean(axis=(1, 2, 3)) * 4 + rng.normal(size=90) * 0.01  # float y (N,)
    path = tmp_path_factory.mktemp("reg") / "images.npz"
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture(scope="module")
def series_csv(tmp_path_factory) -> Path:
    """A random walk of 10 steps; the target is the next value."""
    rng = np.random.default_rng(3)
    walk = rng.normal(size=(120, 11)).cumsum(1)
    path = tmp_path_factory.mktemp("reg") / "series.csv"
    return _write_csv(path, [*(f"t{i}" for i in range(10)), "next"], walk)


FAMILIES = {  # the arguments of `dlcli train`, {images}, {series}, {two} and {models} the data
    "cnn": "cnn --data {images} --layers conv3p1-4,maxpool2",
    "resnet": "resnet --data {images} --depth 8 --width 4 --optimizer adam --lr 0.001",
    "lstm": "lstm --data {series} --target next --hidden-size 8",
    "custom": "custom --model '{models}:Net(classes=1, in_channels=1, width=4)' --data {images}",
    "mlp-2d-y": "mlp --data {two} --hidden 8",
    "lstm-text": "lstm --data {texts} --target score --hidden-size 8 --embedding-dim 8",
}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_learns_regression(family, image_npz, series_csv, tmp_path):
    two = tmp_path / "two.npz"  # y (N, 2): two targets from an .npz
    rng = np.random.default_rng(4)
    x2 = rng.normal(size=(80, 3)).astype(np.float32)
    np.savez(two, x=x2, y=np.c_[x2.sum(1), x2[:, 0] - x2[:, 2]])
    texts = tmp_path / "texts.csv"  # a text column and a numeric score: the good minus the bad
    words = rng.choice(["good", "bad", "film", "plot", "the"], size=(80, 6))
    with open(texts, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "score"])
        for row in words:
            score = (row == "good").sum() - (row == "bad").sum() + rng.normal() * 0.1
            writer.writerow([" ".join(row), f"{score:.4f}"])
    data = {"images": image_npz, "series": series_csv, "two": two, "models": MODELS}
    data["texts"] = texts
    out = tmp_path / family
    loss = REGRESSION_LOSSES[list(FAMILIES).index(family) % 3]  # mse, mae, huber in turn
    args = shlex.split(FAMILIES[family].format(**data))  # the test paths hold no spaces
    doc = _train(*args, "--loss", loss, "--epochs", "2", "--out", out)
    assert doc["task"] == "regression"
    names = {"mlp-2d-y": ["y[0]", "y[1]"], "lstm": ["next"], "lstm-text": ["score"]}
    assert doc["targets"] == names.get(family, ["y"])
    for split in ("train", "val", "test"):
        assert doc[f"{split}_accuracy"] is None
        assert all(isinstance(doc[f"{split}_{k}"], float) for k in SPLIT_KEYS), doc
        assert doc[f"{split}_rmse"] == pytest.approx(np.sqrt(doc[f"{split}_mse"]))
    with open(out / "history.csv", newline="") as fh:
        assert next(csv.reader(fh)) == HISTORY
    assert (out / "curves.png").is_file()


# --- compare, sweeps, resume ---------------------------------------------------------------------


def test_sweep_and_compare_sort_regression_metrics_the_right_way(linear_csv, tmp_path):
    out = tmp_path / "sweep"
    result = cli(
        "train", "mlp", "--data", linear_csv, "--target", "y", "--loss", "mse", "--hidden", "0",
        "--lr", "0.0003", "--lr", "0.03", "--lr", "0.003", "--epochs", "3", "--threads", "1",
        "--out", out, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(out / "sweep.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert {"test_r2", "test_rmse", "test_mae", "test_mse"} <= set(header)
    assert "test_accuracy" not in header
    by_r2 = _json("compare", out, "--sort", "test_r2")["runs"]
    r2 = [r["test_r2"] for r in by_r2]
    assert r2 == sorted(r2, reverse=True) and len(set(r2)) == 3  # higher is better: first
    for key in ("test_rmse", "test_mae", "test_mse", "test_loss"):
        values = [r[key] for r in _json("compare", out, "--sort", key)["runs"]]
        assert values == sorted(values), key  # lower is better: first


def test_resume_of_a_regression_run_matches_an_uninterrupted_one(linear_csv, tmp_path):
    args = ["mlp", "--data", linear_csv, "--target", "y,z", "--loss", "huber", "--hidden", "4"]
    whole = _train(*args, "--epochs", "4", "--out", tmp_path / "whole")
    _train(*args, "--epochs", "2", "--out", tmp_path / "part")
    result = cli("train", "mlp", "--resume", tmp_path / "part", "--epochs", "4", "--json")
    assert result.exit_code == 0, result.output
    resumed = json.loads(result.stdout)
    for key in ("test_loss", *(f"{s}_{k}" for s in ("train", "val", "test") for k in SPLIT_KEYS)):
        assert resumed[key] == whole[key], key


def test_two_ranks_reduce_the_regression_sums_as_one_process(linear_csv, tmp_path):
    """Under DDP each rank sums its share's errors and target moments; all-reduced, they give
    one process's metrics (the same weights, up to float32 rounding of the halves)."""
    import os
    import subprocess
    import sys

    args = ["train", "mlp", "--data", str(linear_csv), "--target", "y,z", "--loss", "mse",
            "--hidden", "4", "--dropout", "0", "--optimizer", "sgd", "--lr", "0.05",
            "--batch-size", "63", "--epochs", "2", "--threads", "1", "--json"]  # fmt: skip
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node", "2", "-m", "dlcli"]  # fmt: skip
    env = {**os.environ, "DLCLI_DIST_TIMEOUT": "60"}
    ddp = subprocess.run(
        [*torchrun, *args, "--out", str(tmp_path / "ddp")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert ddp.returncode == 0, ddp.stderr
    two = json.loads(ddp.stdout)
    one = _train(*args[1:-1], "--out", tmp_path / "one")
    for key in (*(f"{s}_{k}" for s in ("train", "val", "test") for k in SPLIT_KEYS), "val_loss"):
        assert two[key] == pytest.approx(one[key], rel=1e-4, abs=1e-6), key
    with open(tmp_path / "ddp" / "history.csv", newline="") as fh:
        assert next(csv.reader(fh)) == HISTORY


# --- features and export --------------------------------------------------------------------------


def test_features_and_export_of_a_regression_run(curve_csv, tmp_path):
    out = tmp_path / "run"
    _train("mlp", "--data", curve_csv, "--target", "y", "--loss", "mse", "--hidden", "6",
           "--epochs", "3", "--out", out)  # fmt: skip
    feats = _json("features", out, curve_csv, "-o", tmp_path / "f.npy")
    assert feats["shape"] == [300, 6]  # the hidden layer's activations, one row per input
    labelled = tmp_path / "f.npz"
    _json("features", out, "--data", curve_csv, "--split", "all", "-o", labelled)
    with np.load(labelled) as archive:
        y = archive["y"]
    x_true, _, _ = csv_table(curve_csv, None, feature_names=["y"])
    assert y.shape == (300, 1) and np.array_equal(y, x_true)  # the targets, as read
    pytest.importorskip("onnxruntime")  # dlcli[export]
    import onnxruntime

    exported = _json("export", out, "-o", tmp_path / "m.onnx")
    assert exported["targets"] == ["y"] and exported["output"]["name"] == "predictions"
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    x, _, _ = csv_table(curve_csv, None, feature_names=["u", "v", "z"])  # the run's features
    got = session.run(None, {"x": x})[0][:, 0]
    predicted = [p["prediction"][0] for p in _json("predict", out, curve_csv)["predictions"]]
    assert got == pytest.approx(np.array(predicted), abs=1e-4)


# --- errors ---------------------------------------------------------------------------------------


def test_a_target_that_does_not_fit_the_loss_is_one_line(linear_csv, image_npz, tmp_path):
    line = assert_input_error(
        cli("train", "mlp", "--data", linear_csv, "--target", "y", "--epochs", "1"),
        "not a class label",
        "--loss mse",
    )
    assert "cross-entropy" in line
    assert_input_error(
        cli("train", "mlp", "--data", image_npz, "--loss", "hinge", "--epochs", "1"),
        "not a class label",
        "--loss hinge",
        "--loss mse",
    )
    assert_input_error(
        cli("train", "mlp", "--data", linear_csv, "--target", "y,z", "--epochs", "1"),
        "--loss mse",
    )
    text = tmp_path / "text.csv"
    text.write_text("a,b,kind\n" + "".join(f"{i},{i % 3},{'cat' if i % 2 else 'dog'}\n"
                                           for i in range(20)))  # fmt: skip
    assert_input_error(
        cli("train", "mlp", "--data", text, "--target", "kind", "--loss", "mse", "--epochs", "1"),
        "regression loss",
        "text",
    )
    assert_input_error(
        cli("train", "mlp", "--data", text, "--target", "kind,b", "--loss", "mae", "--epochs", "1"),
        "is not a number",
        "must be numbers",
    )


@pytest.mark.parametrize("target", ["c", "y,c"])
def test_a_constant_target_is_one_line_naming_it(tmp_path, target):
    """A target with one value everywhere: regression says so (not the classifier's '2
    classes'), one column or among several; classification keeps its own message."""
    data = tmp_path / "constant.csv"
    data.write_text("x,y,c\n" + "".join(f"{i},{i * 0.5 + 0.25},5\n" for i in range(20)))
    args = ("train", "mlp", "--data", data, "--target", target, "--epochs", "1")
    line = assert_input_error(cli(*args, "--loss", "mse"), "target 'c'", "same value (5)")
    assert "classes" not in line
    if target == "c":
        assert_input_error(cli(*args), "same label ('5')", "at least 2 classes")


def test_classification_runs_keep_their_documents(tmp_path):
    doc = _train("mlp", "--data", "spiral:n=30", "--epochs", "1", "--out", tmp_path / "c")
    assert doc["task"] == "classification"
    assert not any(k.endswith(("_r2", "_rmse", "_mae", "_mse")) for k in doc)
    assert "targets" not in doc


# --- the README -----------------------------------------------------------------------------------


def test_readme_regression_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("sample_data").symlink_to(ROOT / "sample_data")
    commands = readme_commands("regression")
    assert len(commands) >= 3
    for command in commands:
        result = cli(*shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)
    metrics = json.loads(Path("runs/petals/metrics.json").read_text())
    assert metrics["task"] == "regression" and metrics["test_r2"] > 0.8


def test_a_fractional_target_is_read_by_the_fast_parser_as_the_checked_one_reads_it(tmp_path):
    """numpy's parser reads a measurement column too (it was the per-cell parser, ~5x slower),
    and its values are the numbers the validating parser keeps as written."""
    from dlcli.training.data.tables import _read_csv_checked, _read_csv_fast

    rng = np.random.default_rng(0)
    data = tmp_path / "m.csv"
    cells = rng.normal(size=(300, 3)) * [1, 1e-3, 1e4]
    data.write_text("a,b,y\n" + "".join(f"{a:.6g},{b:.6g},{y:.7g}\n" for a, b, y in cells))
    fast = _read_csv_fast(data, "y", None)
    assert fast is not None
    checked = _read_csv_checked(data, "y", None)
    assert np.array_equal(fast[0], checked[0])
    assert fast[1] is not None and checked[1] is not None
    as_float32 = [np.float32(float(v)) for v in checked[1]]
    assert [np.float32(float(v)) for v in fast[1]] == as_float32

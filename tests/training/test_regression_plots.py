"""Regression pictures: fit.png (training points, test points, the fitted curve), curves.png
and the sweeps' comparison with R² in place of accuracy.

Oracles: a linear model's curve by hand (w * standardised x + b, back to original units), the
predictions `dlcli predict` makes of the same inputs (another code path), and the pixels where
the mapping from values to the picture puts them."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tests.conftest import cli


def _image(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


@pytest.fixture(scope="module")
def curve_run(tmp_path_factory):
    """A small mlp fitted to the built-in curve with mse: (run folder, its --json document)."""
    out = tmp_path_factory.mktemp("runs") / "curve"
    result = cli(
        "train", "mlp", "--data", "curve:n=120", "--loss", "mse", "--hidden", "16",
        "--dropout", "0", "--lr", "0.01", "--epochs", "15", "--threads", "1", "--json",
        "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_predict_curve_is_the_linear_model_by_hand():
    import torch

    from dlcli.training.fitplot import fit_grid, predict_curve

    net = torch.nn.Linear(1, 1)
    with torch.no_grad():
        net.weight.fill_(2.0)
        net.bias.fill_(0.5)
    spec = SimpleNamespace(preprocess=lambda x: ((x - 3.0) / 4.0).astype(np.float32))
    xs = fit_grid(np.array([7.0, -1.0, 3.0, 5.0]), points=9)
    assert xs.shape == (9, 1) and xs[0, 0] == -1.0 and xs[-1, 0] == 7.0
    np.testing.assert_allclose(np.diff(xs[:, 0]), 1.0, rtol=1e-6)
    ys = predict_curve(spec, net, torch.device("cpu"), xs, lambda out: out * 10.0 + 20.0)
    expected = (2.0 * (xs[:, 0] - 3.0) / 4.0 + 0.5) * 10.0 + 20.0
    np.testing.assert_allclose(ys, expected, rtol=1e-6)


def test_fit_png_draws_the_points_and_the_curve_where_the_axes_put_them():
    from dlcli.training.fitplot import CURVE_COLOR, SIZE, TEST_COLOR, TRAIN_COLOR, Axes, fit_png

    train = (np.array([-2.0, 3.0]), np.array([10.0, -4.0]))
    test = (np.array([1.0]), np.array([7.0]))
    cx = np.linspace(-2.0, 3.0, 50)
    cy = 0.5 * cx**2
    img = _image(fit_png(train, test, (cx, cy), ("RM", "MEDV")))
    assert img.size == SIZE
    axes = Axes.covering([-2.0, 3.0, 1.0, *cx], [10.0, -4.0, 7.0, *cy])
    assert axes.x_ticks[0] <= -2.0 and axes.x_ticks[-1] >= 3.0
    for x, y in zip(*train, strict=True):
        assert img.getpixel((round(axes.px(x)), round(axes.py(y)))) == TRAIN_COLOR
    assert img.getpixel((round(axes.px(1.0)), round(axes.py(7.0)))) == TEST_COLOR
    for x in (-1.5, -0.5, 2.5):  # away from the points: the curve's colour on its value
        assert img.getpixel((round(axes.px(x)), round(axes.py(0.5 * x * x)))) == CURVE_COLOR


def test_fit_png_of_a_run_follows_its_predictions(curve_run, tmp_path):
    import torch

    import dlcli
    from dlcli.training.fitplot import fit_grid, predict_curve

    out, doc = curve_run
    assert doc["task"] == "regression"
    assert _image((out / "fit.png").read_bytes()).size == (720, 480)
    assert not (out / "boundary.png").exists()
    # the curve's values are the run's own predictions: dlcli predict of the same inputs
    from dlcli.training.evaluate import load_run

    loaded = load_run(out, device="cpu")
    xs = fit_grid(np.array([-1.0, 1.0]), points=7)
    inputs = tmp_path / "grid.npz"
    np.savez(inputs, x=xs)
    predicted = dlcli.predict(out, [str(inputs)], device="cpu").to_dict()["predictions"]
    spec = loaded.spec
    ys = predict_curve(spec, loaded.model, torch.device("cpu"), xs, spec.task.decode)
    np.testing.assert_allclose(ys, [p["prediction"][0] for p in predicted], rtol=1e-5, atol=1e-6)


def test_curves_png_of_a_regression_history_plots_r2():
    from dlcli.training.plots import _score_axis, curves_png, score_column

    history = [
        {"epoch": i + 1, "loss": 1.0 / (i + 1), "mse": 2.0 / (i + 1), "rmse": 1.0, "mae": 1.0,
         "r2": r2, "val_loss": 1.2 / (i + 1), "val_mse": 2.0, "val_rmse": 1.0, "val_mae": 1.0,
         "val_r2": r2 - 0.1, "seconds": 0.1}
        for i, r2 in enumerate([-40.0, -0.5, 0.6, 0.9])
    ]  # fmt: skip
    assert score_column(history) == ("r2", "R^2")
    assert score_column([{"loss": 1, "accuracy": 0.5}]) == ("accuracy", "accuracy")
    png = curves_png(history, "mse")
    assert _image(png).size == (900, 340)
    assert png != curves_png(history, "mae")  # the title names the loss
    series, title, y_range = _score_axis([("train", [-40.0, 0.9])], "r2", "R^2")
    assert series == [("train", [-1.0, 0.9])] and y_range == (-1.0, 1.0)
    assert "below -1 drawn at -1" in title
    assert _score_axis([("t", [0.2, 0.9])], "r2", "R^2")[2] == (0.0, 1.0)
    # history.csv read back: strings, empty where a value is missing
    as_read = [{k: ("" if k == "val_r2" and i == 0 else str(v)) for k, v in row.items()}
               for i, row in enumerate(history)]  # fmt: skip
    assert _image(curves_png(as_read, "huber")).size == (900, 340)


def test_sweep_curves_of_regression_runs_plot_validation_r2(tmp_path):
    out = tmp_path / "sweep"
    result = cli(
        "train", "mlp", "--data", "curve:n=60", "--loss", "mse", "--hidden", "0", "--hidden",
        "8", "--epochs", "3", "--threads", "1", "-q", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from dlcli.training.compare import read_run
    from dlcli.training.plots import _PALETTE

    histories = [read_run(out / name).history() for name in ("hidden=0", "hidden=8")]
    assert all("val_r2" in h[0] and "val_accuracy" not in h[0] for h in histories)
    picture = _image((out / "curves.png").read_bytes())
    assert picture.width == 900
    # both runs' lines in the right panel (validation R²): with accuracy there would be none
    right = {picture.getpixel((x, y)) for x in range(470, 880) for y in range(40, 300)}
    assert tuple(_PALETTE[0]) in right and tuple(_PALETTE[1]) in right
    for name in ("hidden=0", "hidden=8"):
        assert (out / name / "fit.png").is_file()


def test_no_fit_png_for_two_features_nor_for_classification(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2)).astype(np.float32)
    data = tmp_path / "two.npz"
    np.savez(data, x=x, y=(x @ [1.0, -2.0]).astype(np.float32))
    for source, loss, name in ((data, "mse", "two"), ("spiral:n=20", "cross-entropy", "spiral")):
        result = cli(
            "train", "mlp", "--data", source, "--loss", loss, "--hidden", "4", "--epochs", "1",
            "--threads", "1", "-q", "--out", tmp_path / name,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert not (tmp_path / name / "fit.png").exists()
    assert (tmp_path / "spiral" / "boundary.png").is_file()
    assert not (tmp_path / "two" / "boundary.png").exists()


def test_fit_png_is_one_of_the_run_folders_own_files(curve_run):
    from dlcli.training.runs.state import run_state

    out, _ = curve_run
    assert (out / "fit.png").is_file() and run_state(out).foreign == []

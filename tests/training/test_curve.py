"""The built-in regression data `curve[:n=200,noise=0.1]`: y = x + cos(πx) + N(0, noise²), x
uniform in [-1, 1]. Oracles: the formula itself (noise 0), numpy's generator drawn the same
way, and numpy's least squares for the line the docstring promises."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_input_error, cli


def _load(source: str, seed: int = 0):
    from dlcli.training.config import DataConfig
    from dlcli.training.data import load_dataset

    return load_dataset(DataConfig(source=source), seed=seed)


def test_curve_is_a_regression_dataset_of_one_feature():
    data = _load("curve")
    assert data.x.shape == (200, 1) and data.x.dtype == np.float32
    assert data.y.shape == (200, 1) and data.y.dtype == np.float32
    assert data.class_names == [] and data.target_names == ["y"]
    assert data.feature_names == ["x"] and data.name == "curve"
    assert data.x.min() >= -1.0 and data.x.max() <= 1.0


def test_curve_follows_its_formula_and_its_seed():
    # the same draws as the docstring says: x first, then the noise, one generator
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 1.0, 50)
    y = x + np.cos(np.pi * x) + rng.normal(0.0, 0.3, 50)
    data = _load("curve:n=50,noise=0.3", seed=7)
    np.testing.assert_array_equal(data.x[:, 0], x.astype(np.float32))
    np.testing.assert_array_equal(data.y[:, 0], y.astype(np.float32))
    exact = _load("curve:noise=0", seed=1)
    np.testing.assert_allclose(exact.y[:, 0], exact.x[:, 0] + np.cos(np.pi * exact.x[:, 0]),
                               atol=1e-6)  # fmt: skip
    again = _load("Curve:N=200, noise=0.1", seed=3)
    np.testing.assert_array_equal(again.x, _load("curve", seed=3).x)
    np.testing.assert_array_equal(again.y, _load("curve", seed=3).y)
    assert not np.array_equal(_load("curve", seed=4).x, again.x)


def test_the_least_squares_line_finds_the_trend_and_misses_the_hump():
    """What the docstring promises the lesson: the line is about y = x with R² near 0.4."""
    data = _load("curve:n=20000", seed=0)
    x, y = data.x[:, 0].astype(np.float64), data.y[:, 0].astype(np.float64)
    design = np.stack([x, np.ones_like(x)], axis=1)
    (slope, intercept), *_ = np.linalg.lstsq(design, y, rcond=None)
    r2 = 1 - ((design @ [slope, intercept] - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert slope == pytest.approx(1.0, abs=0.05) and intercept == pytest.approx(0.0, abs=0.05)
    assert 0.3 < r2 < 0.5


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("curve:n=1", "need 2 <= n <= 10,000,000"),
        ("curve:n=10000001", "need 2 <= n <= 10,000,000"),
        ("curve:noise=-0.1", "a finite noise >= 0"),
        ("curve:noise=inf", "a finite noise >= 0"),
        ("curve:classes=3", "invalid curve option 'classes=3': expected n=POINTS, noise=F"),
        ("curve:n=many", "'many' is not a number"),
    ],
)
def test_curve_options_out_of_bounds_are_one_line(source, fragment):
    assert_input_error(cli("train", "mlp", "--data", source, "--epochs", "1"), fragment)


def test_curve_is_a_builtin_source():
    from dlcli.training.data import input_kind

    assert [input_kind(s) for s in ("curve", "Curve:n=5", "curve:noise=0")] == ["builtin"] * 3


def test_readme_curve_example_holds_at_full_length(tmp_path, monkeypatch):
    """The README's curve command, as written (lesson 9's settings): 32 hidden units reach test
    R² >= 0.95; `--hidden 0` ends within 0.01 of numpy's least-squares line fitted on the same
    training split; the numbers the README shows are this run's."""
    import re
    import shlex

    from conftest import ROOT, readme_commands

    from dlcli.training.engine import device
    from dlcli.training.runs.spec import load_data, read_spec, run_split

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(device, "default_threads", lambda: 1)
    (command,) = readme_commands("curve")
    result = cli(*shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    out = tmp_path / "runs" / "curve"
    metrics = {h: json.loads((out / f"hidden={h}" / "metrics.json").read_text()) for h in (0, 32)}
    assert metrics[32]["test_r2"] >= 0.95
    spec, _ = read_spec(out / "hidden=0")
    data = load_data(spec.model, spec.model_config, spec.data, spec.train)
    split = run_split(spec, data, spec.train.seed)
    x, y = data.x[:, 0].astype(np.float64), data.y[:, 0].astype(np.float64)
    design = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(design[split.train], y[split.train], rcond=None)
    residual = y[split.test] - design[split.test] @ coef
    r2 = 1 - (residual**2).sum() / ((y[split.test] - y[split.test].mean()) ** 2).sum()
    assert metrics[0]["test_r2"] == pytest.approx(r2, abs=0.01)
    for picture in ("hidden=32/fit.png", "hidden=0/fit.png", "curves.png"):
        assert (out / picture).is_file()
    # the README's numbers: the linear run's test R², then the net's; the lstsq line's
    text = (ROOT / "README.md").read_text()
    section = text[text.index("<!-- section:curve -->") : text.index("<!-- /section:curve -->")]
    shown = [float(v) for v in re.findall(r"test R²\s+(\d\.\d+)", section)]
    line = float(re.findall(r"training split \((\d\.\d+)\)", section)[0])
    assert shown == pytest.approx([metrics[0]["test_r2"], metrics[32]["test_r2"]], abs=0.006)
    assert line == pytest.approx(r2, abs=0.006)

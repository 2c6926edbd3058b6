"""`dlcli lesson`: the README's lesson commands at full length, every claim recomputed here from
the runs' own metrics.json, history.csv and weights (never from `holds`); the README's lesson
section and `lesson list` read the same declarations, and the numbers the section shows are the
ones measured here; list, run, --json, errors and resuming through CliRunner; one real process.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_input_error, cli, readme_commands, run_dlcli

import dlcli
from dlcli.course import LESSONS, Lesson
from dlcli.course import run as course_run
from dlcli.training.engine.callbacks import Callback

README = ROOT / "README.md"
NUMBER = r"-?\d+(?:\.\d+)?"
BULLET = re.compile(
    r"^- \*\*(?P<name>[\w-]+)\*\* \(`(?P<figure>[^`]+)`\): (?P<summary>.+?)\. "
    r"Measured: (?P<claim>.+?)\.$",
    re.M,
)


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def _history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _weight_norm(run: Path) -> float:
    """The oracle: the saved weights' tensors with ndim >= 2, square root of the sum of squares."""
    from safetensors.numpy import load_file

    tensors = load_file(str(run / "model.safetensors"))
    return math.sqrt(sum(float((t.astype(np.float64) ** 2).sum()) for t in tensors.values()
                         if t.ndim >= 2))  # fmt: skip


# --- every lesson at full length: the README's commands, one thread --------------------------


@pytest.fixture(scope="module")
def lessons_run(tmp_path_factory) -> tuple[Path, dict]:
    """Run the README's lesson commands in a fresh folder (one thread; `--json` for `run`):
    (the folder, {command: its JSON document or stdout})."""
    work = tmp_path_factory.mktemp("lesson")
    before = Path.cwd()
    os.chdir(work)
    outputs: dict[str, object] = {}
    try:
        for command in readme_commands("lesson"):
            args = shlex.split(command)[1:]
            if args[:2] == ["lesson", "run"]:
                args += ["--threads", "1", "--json"]
            result = cli(*args)
            assert result.exit_code == 0, (command, result.output)
            outputs[command] = json.loads(result.stdout) if "--json" in args else result.stdout
    finally:
        os.chdir(before)
    return work, outputs


def _all(lessons_run) -> dict[str, dict]:
    _, outputs = lessons_run
    (document,) = [d for c, d in outputs.items() if c.endswith("lesson run all")]
    return {one["lesson"]: one for one in document["lessons"]}


def test_the_readme_runs_every_lesson(lessons_run):
    lessons = _all(lessons_run)
    assert list(lessons) == [one.name for one in LESSONS]
    work, _ = lessons_run
    for name, one in lessons.items():
        assert one["holds"] is True, (name, one["claim"])
        assert (work / one["figure"]).is_file(), one["figure"]
        assert one["figure"] == f"runs/lesson-{name}/" + next(
            x.figure for x in LESSONS if x.name == name
        )
        for run in one["runs"]:  # each run's train document, with its knobs (and sweep name)
            assert "knobs" in run and run["out"].startswith(f"runs/lesson-{name}/")
            document = {k: v for k, v in run.items() if k not in ("knobs", "name")}
            assert document == _metrics(work / run["out"])


@pytest.mark.parametrize("name", [one.name for one in LESSONS if not one.steps])
def test_runs_differ_only_in_the_knob_that_varies(lessons_run, name):
    work, _ = lessons_run
    declared = next(one for one in LESSONS if one.name == name)
    compared = dlcli.compare(work / "runs" / f"lesson-{name}")
    assert compared.knobs == list(declared.vary)
    assert len(compared.runs) == len(next(iter(declared.vary.values())))


def _folder(lessons_run, name: str) -> Path:
    return lessons_run[0] / "runs" / f"lesson-{name}"


def test_neurons_training_accuracy_rises_with_the_width(lessons_run):
    folder = _folder(lessons_run, "neurons")
    acc = [_metrics(folder / f"hidden={h}")["train_accuracy"] for h in (3, 6, 20)]
    assert acc == sorted(acc) and acc[2] >= acc[0] + 0.15, acc
    claim = _all(lessons_run)["neurons"]["claim"]
    for h in (3, 6, 20):  # the seconds per epoch shown are the history's
        seconds = [float(r["seconds"]) for r in _history(folder / f"hidden={h}")]
        assert f"{1000 * sum(seconds) / len(seconds):.1f} ms" in claim


def test_lambda_underfits_and_shrinks_the_weights(lessons_run):
    folder = _folder(lessons_run, "lambda")
    runs = [folder / f"weight-decay={wd}" for wd in ("0.001", "0.01", "0.1")]
    acc = [_metrics(r)["train_accuracy"] for r in runs]
    assert acc[0] - acc[2] >= 0.1, acc
    norms = [_weight_norm(r) for r in runs]
    assert norms[0] > norms[1] > norms[2], norms
    for run, norm in zip(runs, norms, strict=True):  # metrics.json's weight_norm is the oracle's
        assert _metrics(run)["weight_norm"] == pytest.approx(norm, rel=1e-6)


def test_the_sigmoids_gradient_vanishes(lessons_run):
    folder = _folder(lessons_run, "activation")
    ratio, last = {}, {}
    for act in ("sigmoid", "relu"):
        rows = _history(folder / f"activation={act}")
        columns = [k for k in rows[0] if k.startswith("grad_norm/")]
        assert len(columns) == 5  # four hidden layers and the output layer
        last[act] = rows[-1]
        ratio[act] = float(rows[-1][columns[0]]) / float(rows[-1][columns[-1]])
    assert ratio["sigmoid"] * 10 <= ratio["relu"], ratio
    assert float(last["relu"]["val_loss"]) < float(last["sigmoid"]["val_loss"])
    hidden = json.loads((folder / "activation=relu" / "config.json").read_text())
    assert len(hidden["model_config"]["hidden"]) >= 4


def test_small_init_stays_at_chance(lessons_run):
    folder = _folder(lessons_run, "init")
    acc = {i: _metrics(folder / f"init={i}")["test_accuracy"] for i in ("default", "small")}
    chance = 1 / len(_metrics(folder / "init=small")["classes"])
    assert abs(acc["small"] - chance) <= 0.05, acc
    assert acc["default"] >= chance + 0.4, acc


def test_dropout_narrows_the_gap_and_its_figure_shows_training_curves(lessons_run):
    folder = _folder(lessons_run, "dropout")
    gap = {}
    for p in ("0", "0.5"):
        run = folder / f"dropout={p}"
        m, last = _metrics(run), _history(run)[-1]
        assert float(last["loss"]) == pytest.approx(m["train_loss"], rel=1e-5)
        gap[p] = m["val_loss"] - m["train_loss"]
    assert gap["0"] >= 0.3 and gap["0.5"] <= gap["0"] / 2, gap
    from PIL import Image

    from dlcli.training.compare import read_run
    from dlcli.training.plots import curves_overlay_png

    runs = [(f"dropout={p}", read_run(folder / f"dropout={p}").history()) for p in ("0", "0.5")]
    with Image.open(folder / "curves.png") as shown:  # the figure is the train+val drawing
        assert shown.tobytes() == _png_pixels(curves_overlay_png(runs, train=True))
    assert _png_pixels(curves_overlay_png(runs)) != _png_pixels(curves_overlay_png(runs, True))


def _png_pixels(png: bytes) -> bytes:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.tobytes()


def test_standardising_features_1000x_apart(lessons_run):
    folder = _folder(lessons_run, "standardize")
    on, off = (_metrics(folder / f"standardize={s}") for s in ("True", "False"))
    assert on["test_accuracy"] - off["test_accuracy"] >= 0.2, (on, off)
    config = json.loads((folder / "standardize=False" / "config.json").read_text())
    assert config["train"]["optimizer"] == "sgd" and config["train"]["momentum"] == 0
    from dlcli.training.data.builtin import make_spiral

    x = make_spiral(n=300, scale=0.001).x  # the data: the scales of the features
    assert 500 <= x[:, 0].std() / x[:, 1].std() <= 2000


def test_linear_vs_one_hidden_layer(lessons_run):
    folder = _folder(lessons_run, "linear")
    assert _metrics(folder / "hidden=0")["train_accuracy"] <= 0.6
    assert _metrics(folder / "hidden=100")["train_accuracy"] >= 0.9
    assert _metrics(folder / "hidden=0")["params"] == 2 * 3 + 3  # W (3x2) and b: linear


def test_hinge_and_cross_entropy_agree(lessons_run):
    folder = _folder(lessons_run, "loss")
    hinge, entropy = (_metrics(folder / f"loss={x}") for x in ("hinge", "cross-entropy"))
    assert abs(hinge["train_accuracy"] - entropy["train_accuracy"]) <= 0.05


def test_regression_fits_the_curve_and_the_line_is_least_squares(lessons_run):
    """Lesson 9 from the run folders: the net's test R² from its own predictions (dlcli.predict
    on the test rows, R² by hand), and the linear run's test R² against numpy's `lstsq` line
    fitted on the same training split."""
    from dlcli.training.runs.spec import load_data, read_spec, run_split

    folder = _folder(lessons_run, "regression")
    linear, net = (_metrics(folder / f"hidden={h}") for h in (0, 32))
    assert net["task"] == linear["task"] == "regression"
    spec, _ = read_spec(folder / "hidden=0")
    data = load_data(spec.model, spec.model_config, spec.data, spec.train)
    split = run_split(spec, data, spec.train.seed)
    x, y = data.x[:, 0].astype(np.float64), data.y[:, 0].astype(np.float64)
    test = y[split.test]

    def r2(predicted: np.ndarray) -> float:
        return float(1 - ((test - predicted) ** 2).sum() / ((test - test.mean()) ** 2).sum())

    design = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(design[split.train], y[split.train], rcond=None)
    assert abs(linear["test_r2"] - r2(design[split.test] @ coef)) <= 0.01
    rows = folder / "test-rows.csv"
    rows.write_text("x\n" + "".join(f"{v!r}\n" for v in x[split.test].tolist()))
    predicted = dlcli.predict(folder / "hidden=32", [str(rows)]).to_dict()["predictions"]
    values = np.array([p["prediction"][0] for p in predicted], dtype=np.float64)
    assert r2(values) == pytest.approx(net["test_r2"], abs=1e-4)
    assert net["test_r2"] >= 0.95
    assert (folder / "hidden=32" / "fit.png").is_file()


def test_resnet_features_train_a_linear_classifier(lessons_run):
    folder = _folder(lessons_run, "features")
    resnet, linear = _metrics(folder / "resnet" / "run"), _metrics(folder / "linear" / "run")
    assert resnet["model"] == "resnet" and linear["data"].endswith("features.npz")
    # weight_norm leaves out batch-norm scales and biases (ndim 1): the oracle's tensors
    assert resnet["weight_norm"] == pytest.approx(_weight_norm(folder / "resnet" / "run"))
    assert linear["test_accuracy"] >= 0.95
    features = np.load(folder / "features.npz")
    assert linear["params"] == (features["x"].shape[1] + 1) * len(linear["classes"])


def test_another_seed_holds_too(lessons_run):
    """The README's `--seed 1` command: the same claim on another seed."""
    _, outputs = lessons_run
    (document,) = [d for c, d in outputs.items() if "--seed 1" in c]
    (one,) = document["lessons"]
    for run in one["runs"]:
        config = json.loads((lessons_run[0] / run["out"] / "config.json").read_text())
        assert config["train"]["seed"] == 1
    plain, dropped = one["runs"]
    g0, g5 = (r["val_loss"] - r["train_loss"] for r in (plain, dropped))
    assert g0 >= 0.3 and g5 <= g0 / 2


# --- the README's section and `lesson list` read the same declarations -----------------------


def _bullets() -> dict[str, dict[str, str]]:
    """The section's lesson bullets (a bullet's wrapped lines joined), by lesson name."""
    text = README.read_text()
    section = text[text.index("<!-- section:lesson -->") : text.index("<!-- /section:lesson -->")]
    joined = re.sub(r"\n  (?=\S)", " ", section)
    return {m["name"]: m.groupdict() for m in BULLET.finditer(joined)}


def _numbers(text: str) -> list[tuple[float, bool]]:
    """The numbers of a claim's text, each with whether it is a timing (followed by 'ms')."""
    return [(float(m[1]), bool(m[2])) for m in re.finditer(rf"({NUMBER})( ms)?", text)]


def test_readme_section_and_list_are_the_declarations():
    bullets = _bullets()
    listed = cli("lesson", "list", "--json")
    assert listed.exit_code == 0
    entries = json.loads(listed.stdout)["lessons"]
    assert [e["lesson"] for e in entries] == list(bullets) == [one.name for one in LESSONS]
    for entry in entries:
        bullet = bullets[entry["lesson"]]
        assert bullet["summary"] == entry["summary"]
        assert bullet["figure"] == entry["figure"]
    plain = cli("lesson", "list").stdout.splitlines()
    assert [line.split()[0] for line in plain] == list(bullets)
    assert all(line.split(None, 1)[1] == bullets[line.split()[0]]["summary"] for line in plain)


def test_readme_shows_the_numbers_measured_here(lessons_run):
    """Each bullet's claim is the text measured in the suite's run of seed 0: the same words,
    and each number within 0.02 or 10 % (another CPU's arithmetic moves the last digits);
    timings (ms) any positive number."""
    measured = _all(lessons_run)
    for name, bullet in _bullets().items():
        shown, got = bullet["claim"], measured[name]["claim"]
        assert re.sub(NUMBER, "#", shown) == re.sub(NUMBER, "#", got), (shown, got)
        for (want, timing), (have, _) in zip(_numbers(shown), _numbers(got), strict=True):
            assert have > 0 if timing else math.isclose(want, have, rel_tol=0.1, abs_tol=0.02), (
                name, want, have,
            )  # fmt: skip


# --- the command: list, run, --json, errors, resuming (tiny lessons), a real process ----------


def _tiny_claim(runs):
    acc = [r["train_accuracy"] for r in runs]
    return acc[-1] > 0, f"training accuracy {', '.join(f'{a:.3f}' for a in acc)}"


TINY = Lesson(
    "tiny",
    "two widths on a small spiral",
    _tiny_claim,
    "boundaries.png",
    data="spiral:n=20",
    knobs={"dropout": 0, "threads": 1},
    vary={"hidden": [2, 8, 4]},
    epochs=4,
)
IMPOSSIBLE = Lesson(
    "impossible",
    "a claim no run can meet",
    lambda runs: (runs[0]["train_accuracy"] > 1, "training accuracy above 1"),
    "curves.png",
    data="spiral:n=20",
    knobs={"threads": 1},
    vary={"hidden": [2, 3]},
    epochs=1,
)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(course_run, "LESSONS", (TINY, IMPOSSIBLE))


def test_run_prints_table_figure_and_claim(tiny, tmp_path):
    result = cli("lesson", "run", "tiny", "--out", tmp_path / "t")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "lesson tiny: two widths on a small spiral"
    assert [line.split()[0] for line in lines[2:5]] == ["2", "8", "4"]  # the sweep's order
    assert f"figure: {tmp_path / 't' / 'boundaries.png'}" in lines
    accuracy = [_metrics(tmp_path / "t" / f"hidden={h}")["train_accuracy"] for h in (2, 8, 4)]
    assert "claim holds: training accuracy " + ", ".join(f"{a:.3f}" for a in accuracy) in lines
    assert "lesson 1/1: tiny: two widths on a small spiral" in result.stderr
    assert "run 3/3: hidden=4" in result.stderr and "epoch 4/4" in result.stderr


def test_a_failing_claim_is_exit_1_after_the_output(tiny, tmp_path):
    result = cli("lesson", "run", "tiny", "impossible", "--out", tmp_path, "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert [(d["lesson"], d["holds"]) for d in document["lessons"]] == [
        ("tiny", True), ("impossible", False),
    ]  # fmt: skip
    assert document["lessons"][1]["out"] == str(tmp_path / "impossible")
    assert result.stderr.strip().splitlines()[-1] == (
        "dlcli: error: the claim of lesson impossible did not hold (see above)"
    )


def test_unknown_lesson_names_the_lessons(tiny, invoke):
    assert_input_error(invoke("lesson", "run", "tiny", "nope"),
                       "unknown lesson 'nope'", "tiny, impossible or all")  # fmt: skip
    assert_input_error(invoke("lesson", "run"), "Missing argument 'NAME...'")


class _StopAt(Callback):
    """Ctrl-C in epoch `epoch` of the run `name` (as a signal would arrive)."""

    def __init__(self, name: str, epoch: int) -> None:
        self.name, self.epoch, self.current = name, epoch, ""

    def on_run_begin(self, index, total, name, logs):
        self.current = name

    def on_run_end(self, index, total, name, logs):
        pass

    def on_epoch_end(self, epoch, logs):
        if self.current == self.name and epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def test_an_interrupted_lesson_continues_and_keeps_finished_runs(tiny, tmp_path):
    out = tmp_path / "t"
    with pytest.raises(KeyboardInterrupt):
        dlcli.lesson("tiny", out=out, callbacks=[_StopAt("hidden=8", 2)])
    first = (out / "hidden=2" / "metrics.json").stat().st_mtime_ns
    assert not (out / "hidden=8" / "metrics.json").exists()
    again = dlcli.lesson("tiny", out=out)
    assert (out / "hidden=2" / "metrics.json").stat().st_mtime_ns == first  # kept
    straight = dlcli.lesson("tiny", out=tmp_path / "straight")
    for a, b in zip(again.lessons[0].runs, straight.lessons[0].runs, strict=True):
        assert a["train_loss"] == b["train_loss"] and a["test_accuracy"] == b["test_accuracy"]
    assert again.lessons[0].claim == straight.lessons[0].claim
    # a finished lesson is read back, not trained: every metrics.json as it was
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}
    assert dlcli.lesson("tiny", out=out).to_dict() == again.to_dict()
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}


def test_another_seed_in_the_same_folder_is_refused(tiny, tmp_path, invoke):
    assert cli("lesson", "run", "tiny", "--out", tmp_path).exit_code == 0
    assert_input_error(invoke("lesson", "run", "tiny", "--out", str(tmp_path), "--seed", "3"),
                       "whose seed is 0, not the requested 3")  # fmt: skip


def test_a_real_process_runs_a_lesson(tmp_path):
    done = run_dlcli("lesson", "run", "loss", "--threads", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "claim holds: training accuracy" in done.stdout
    assert "figure: runs/lesson-loss/boundaries.png" in done.stdout
    assert (tmp_path / "runs" / "lesson-loss" / "boundaries.png").is_file()
    assert "lesson 1/1: loss" in done.stderr


def test_spiral_scale_multiplies_the_second_coordinate(invoke):
    from dlcli.training.data.builtin import make_spiral

    plain, scaled = make_spiral(seed=3), make_spiral(seed=3, scale=1000.0)
    assert np.array_equal(scaled.x[:, 0], plain.x[:, 0])
    assert np.allclose(scaled.x[:, 1], 1000.0 * plain.x[:, 1], rtol=1e-6)
    assert_input_error(invoke("train", "mlp", "--data", "spiral:scale=0", "--epochs", "1"),
                       "scale=0.0", "a finite scale > 0")  # fmt: skip

"""`dlcli train mlp|cnn` and THE loop: run folder, determinism, resume, Ctrl-C, early stopping,
the lesson's knobs (checked against PyTorch), the cnn layer table (checked against featsize and
real tensor shapes), devices and bad flags."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, assert_input_error, cli
from safetensors.torch import load_file

from dlcli.training.config import TrainConfig
from dlcli.training.data import DataConfig
from dlcli.training.engine import callbacks as engine_callbacks
from dlcli.training.engine import loop, setup, tasks
from dlcli.training.engine.callbacks import Callback
from dlcli.training.families import get_family
from dlcli.training.families.cnn import CNNConfig
from dlcli.training.families.mlp import MLPConfig
from dlcli.training.runs import checkpoint


def _history(folder: Path) -> list[dict]:
    with open(folder / "history.csv") as fh:
        return list(csv.DictReader(fh))


def _train(tmp_path, name="r", model="mlp", config=None, callbacks=(), **kw):
    kw.setdefault("threads", 1)
    kw.setdefault("device", "cpu")
    config = config or (MLPConfig() if model == "mlp" else CNNConfig())
    return setup.train(model, config, DataConfig(), TrainConfig(**kw), tmp_path / name, callbacks)


def test_run_folder_contents(mlp_run):
    out, doc = mlp_run
    for key in (
        "model",
        "data",
        "epochs",
        "test_accuracy",
        "test_loss",
        "params",
        "seconds",
        "out",
    ):
        assert key in doc
    assert doc["model"] == "mlp" and doc["data"] == "digits" and doc["epochs"] == 3
    assert 0.0 <= doc["test_accuracy"] <= 1.0 and doc["out"] == str(out)
    assert doc["params"] == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    assert doc["n_train"] + doc["n_val"] + doc["n_test"] == 1797
    config = json.loads((out / "config.json").read_text())
    assert config["status"] == "done" and config["model_config"]["hidden"] == [128, 64]
    assert len(config["standardize"]["mean"]) == 1  # digits: one channel
    with open(out / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert set(rows[0]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "metrics.json").read_text()) == doc
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporaries
    assert not (out / "boundary.png").exists()  # 64-D data: no decision regions


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    a = _train(tmp_path, "a", epochs=2, seed=3)
    b = _train(tmp_path, "b", epochs=2, seed=3)
    _train(tmp_path, "c", epochs=2, seed=4)
    wa, wb, wc = (load_file(tmp_path / n / "model.safetensors") for n in "abc")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a.test_accuracy, a.test_loss) == (b.test_accuracy, b.test_loss)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


class _StopAfter(Callback):
    """Asks the loop to stop after `epochs` epochs, as a Keras callback would."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.ended: dict | None = None

    def on_epoch_end(self, epoch, logs):
        if epoch + 1 == self.epochs:
            self.stop_training = True

    def on_train_end(self, logs):
        self.ended = logs


def test_a_callback_stops_training_then_resume_equals_an_uninterrupted_run(tmp_path):
    # dropout on: the resumed run must also restore the RNG and the optimizer's moments
    straight = _train(tmp_path, "straight", epochs=4, seed=1)
    stopper = _StopAfter(2)
    cut = _train(tmp_path, "cut", epochs=4, seed=1, callbacks=[stopper])
    # a normal finish with the epochs done: weights, metrics, on_train_end, status done
    assert cut.epochs == 2 and not cut.stopped_early and stopper.ended == cut.to_dict()
    config = json.loads((tmp_path / "cut" / "config.json").read_text())
    assert config["status"] == "done" and config["epochs_done"] == 2
    assert config["train"]["epochs"] == 4  # the run's total: resume trains on to it
    assert (tmp_path / "cut" / "model.safetensors").exists()
    assert len(_history(tmp_path / "cut")) == 2
    resumed = setup.resume(tmp_path / "cut", callbacks=[stopper])  # the flag is reset on begin
    assert resumed.epochs == 4
    w1 = load_file(tmp_path / "straight" / "model.safetensors")
    w2 = load_file(tmp_path / "cut" / "model.safetensors")
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert resumed.test_accuracy == straight.test_accuracy
    assert len(_history(tmp_path / "cut")) == 4


class _CtrlC(Callback):
    def on_epoch_end(self, epoch, logs):
        if epoch == 1:
            raise KeyboardInterrupt  # what Ctrl-C does between two epochs


def test_ctrl_c_saves_the_checkpoint_and_marks_the_run_interrupted(tmp_path):
    with pytest.raises(KeyboardInterrupt, match="interrupted after 2 of 4 epochs.*--resume"):
        _train(tmp_path, "cut", epochs=4, seed=1, callbacks=[_CtrlC()])
    assert json.loads((tmp_path / "cut" / "config.json").read_text())["status"] == "interrupted"
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    assert checkpoint.load(tmp_path / "cut").state.epoch == 2
    assert setup.resume(tmp_path / "cut").epochs == 4


def test_resume_extends_a_finished_run_and_refuses_nothing_to_do(tmp_path, mlp_run):
    _train(tmp_path, "r", epochs=1)
    result = cli("train", "mlp", "--resume", tmp_path / "r", "--epochs", "2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["epochs"] == 2
    assert_input_error(
        cli("train", "mlp", "--resume", tmp_path / "r", "--epochs", "2"),
        "already trained 2 epochs",
    )
    assert_input_error(cli("train", "cnn", "--resume", tmp_path / "r"), "'mlp' run")


def test_resume_refuses_settings_it_would_ignore(tmp_path):
    _train(tmp_path, "r", epochs=1)
    for flags, named in (
        (["--lr", "0.1"], "--lr"),
        (["--hidden", "32"], "--hidden"),
        (["--out", tmp_path / "x"], "--out"),
    ):
        result = cli("train", "mlp", "--resume", tmp_path / "r", "--epochs", "2", *flags)
        assert_input_error(result, "saved settings", named)


def test_early_stopping_restores_the_best_weights(tmp_path):
    # SGD with a large step makes the validation loss bounce, so patience 1 ends the run early
    result = _train(tmp_path, epochs=40, patience=1, optimizer="sgd", lr=0.5, seed=0)
    history = _history(tmp_path / "r")
    val_losses = [float(r["val_loss"]) for r in history]
    assert result.stopped_early and len(history) == result.best_epoch + 1 < 40
    assert result.best_epoch == 1 + val_losses.index(min(val_losses))
    # oracle: the saved weights give the best epoch's validation loss again
    assert result.val_loss == pytest.approx(min(val_losses), rel=1e-5)


def test_ctrl_c_in_a_real_process_saves_and_exits_130(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dlcli",
            "train",
            "mlp",
            "--epochs",
            "100000",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    ) as proc:
        for line in proc.stderr:  # wait for two finished epochs
            if line.startswith("epoch 2/"):
                break
        proc.send_signal(signal.SIGINT)
        stdout, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130
    after = [ln for ln in rest.splitlines() if not ln.startswith("epoch ")]
    assert len(after) == 1 and after[0].startswith("dlcli: error: interrupted after"), rest
    assert f"--resume {out}" in after[0] and "Traceback" not in rest
    assert (out / "checkpoint.safetensors").is_file() and (out / "history.csv").is_file()
    assert stdout == ""
    done = len(_history(out))
    result = cli("train", "mlp", "--resume", out, "--epochs", done + 1, "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["epochs"] == done + 1


def test_hinge_loss_is_the_lessons_multiclass_svm():
    scores = torch.randn(7, 5, dtype=torch.float64)
    y = torch.randint(0, 5, (7,))
    # PyTorch's multi_margin_loss averages over classes; the lesson sums over j != y_i
    oracle = torch.nn.functional.multi_margin_loss(scores, y, margin=1.0) * 5
    assert tasks.multiclass_hinge(scores, y).item() == pytest.approx(oracle.item(), rel=1e-12)


def test_linear_classifier_small_init_and_optimizer_knobs(tmp_path):
    mlp = get_family("mlp")
    net = mlp.build(MLPConfig(hidden=(), dropout=0.0), (64,), 10)
    assert [type(m).__name__ for m in net] == ["Linear"]  # f(x) = Wx + b
    from dlcli.training.families.blocks import apply_init

    torch.manual_seed(0)
    big = mlp.build(MLPConfig(hidden=(256,)), (64,), 10)
    apply_init(big, "small")
    assert big[0].weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.count_nonzero(big[0].bias) == 0
    opt = loop.make_optimizer(big, TrainConfig(optimizer="sgd", momentum=0.8, weight_decay=0.01))
    group = opt.param_groups[0]
    assert (type(opt).__name__, group["lr"], group["momentum"], group["weight_decay"]) == (
        "SGD",
        0.01,
        0.8,
        0.01,
    )


def test_train_svm_and_softmax_from_the_cli(tmp_path):
    for loss in ("hinge", "cross-entropy"):
        result = cli(
            "train",
            "mlp",
            "--hidden",
            "0",
            "--loss",
            loss,
            "--init",
            "small",
            "--epochs",
            "2",
            "--optimizer",
            "sgd",
            "--lr",
            "0.01",
            "--threads",
            "1",
            "--json",
            "--out",
            tmp_path / loss,
        )
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert doc["params"] == 64 * 10 + 10 and doc["test_accuracy"] > 0.5


def _torch_shapes(net, input_shape):
    """The output shape after each module of the feature extractor (up to Flatten)."""
    shapes, x = [], torch.zeros(1, *input_shape)
    net.eval()
    for module in net:
        x = module(x)
        if isinstance(module, torch.nn.Flatten):
            break
        if not isinstance(module, torch.nn.ReLU | torch.nn.Tanh | torch.nn.Sigmoid):
            shapes.append(list(x.shape[1:]))
    return shapes


def test_cnn_layer_table_matches_featsize_and_torch(tmp_path):
    spec = "conv3p1-8,maxpool2,conv3s2p1-12,avgpool2ceil,bn,dropout"
    cnn = get_family("cnn")
    config = CNNConfig(layers=spec, hidden=(16,))
    rows = cnn.describe(config, (1, 8, 8), 10)
    net = cnn.build(config, (1, 8, 8), 10)
    from dlcli.calculators.featsize import chain_output
    from dlcli.layers import parse_layers

    chain = chain_output(parse_layers(spec), (8, 8), 1)
    conv_rows = rows[1 : 1 + len(chain.layers)]
    assert [r["output"] for r in conv_rows] == [[ls.channels, *ls.output] for ls in chain.layers]
    assert [r["output"] for r in conv_rows] == _torch_shapes(net, (1, 8, 8))
    assert sum(r["params"] or 0 for r in rows) == sum(p.numel() for p in net.parameters())
    # the CLI prints it before training, with featsize's numbers
    result = cli(
        "train",
        "cnn",
        "--layers",
        spec,
        "--hidden",
        "16",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--out",
        tmp_path / "cnn",
    )
    assert result.exit_code == 0, result.output
    for ls in chain.layers:
        assert ls.spec in result.stderr
    assert f"{sum(p.numel() for p in net.parameters()):,}" in result.stderr
    assert "epoch 1/1" in result.stderr and "test" in result.stdout


def test_cnn_explicit_activations_are_not_doubled():
    net = get_family("cnn").build(CNNConfig(layers="conv3p1-4,tanh,maxpool2"), (1, 8, 8), 3)
    kinds = [type(m).__name__ for m in net]
    assert kinds[:3] == ["Conv2d", "Tanh", "MaxPool2d"]


def test_cnn_on_flat_data_is_an_input_error(tmp_path, blobs_csv):
    assert_input_error(
        cli("train", "cnn", "--data", blobs_csv, "--target", "species", "--out", tmp_path / "x"),
        "needs images",
    )
    assert not (tmp_path / "x").exists()


def test_no_standardize_saves_no_statistics(tmp_path):
    out = tmp_path / "raw"
    result = cli(
        "train",
        "mlp",
        "--no-standardize",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--json",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["standardize"] is None
    ev = json.loads(cli("evaluate", out, "--json").stdout)
    assert ev["accuracy"] == json.loads(result.stdout)["test_accuracy"]


def test_spiral_draws_decision_regions(tmp_path):
    out = tmp_path / "spiral"
    result = cli(
        "train",
        "mlp",
        "--data",
        "spiral:n=60,classes=3,noise=0.1",
        "--hidden",
        "32",
        "--epochs",
        "3",
        "--threads",
        "1",
        "--json",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_test"] == 36
    from PIL import Image

    with Image.open(out / "boundary.png") as img:
        assert img.size == (480, 480)
        import numpy as np

        colours = np.unique(np.asarray(img).reshape(-1, 3), axis=0)
        assert len(colours) > 3  # regions of several classes plus the points


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--device", "cuda"], "--device cuda"),
        (["--device", "tpu"], "'tpu' is not one of"),
        (["--epochs", "0"], "invalid --epochs 0"),
        (["--optimizer", "rmsprop"], "'rmsprop' is not one of"),
        (["--loss", "l1"], "'l1' is not one of"),
        (["--hidden", "12,x"], "invalid --hidden '12,x'"),
        (["--activation", "gelu"], "'gelu' is not one of"),
        (["--dropout", "1.5"], "invalid --dropout 1.5"),
        (["--init", "zeros"], "'zeros' is not one of"),
        (["--patience", "3", "--val-fraction", "0"], "--patience needs a validation split"),
        (["--test-fraction", "0.6", "--val-fraction", "0.5"], "their sum must be below 1"),
        (["--data", "nosuch.csv"], "data 'nosuch.csv' not found"),
        (["--data", "spiral:n=abc"], "invalid spiral option"),
        (["--batch-size", "0"], "invalid --batch-size 0"),
    ],
)
def test_bad_flags_exit_2_and_write_nothing(tmp_path, args, fragment):
    if fragment == "--device cuda" and torch.cuda.is_available():
        pytest.skip("a CUDA device is available here")
    out = tmp_path / "never"
    assert_input_error(cli("train", "mlp", *args, "--out", out), fragment)
    assert not out.exists()


def test_bad_cnn_layers_exit_2(tmp_path):
    assert_input_error(cli("train", "cnn", "--layers", "conv3p1-8,wobble"), "wobble")
    # a chain that shrinks 8x8 below one pixel: featsize's own error
    assert_input_error(
        cli("train", "cnn", "--layers", "conv5-8,conv5-8", "--out", tmp_path / "x"), "layer 2"
    )
    assert not (tmp_path / "x").exists()


def test_out_must_be_new_or_empty(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    assert_input_error(cli("train", "mlp", "--out", tmp_path / "full"), "not an empty folder")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_default_mlp_reaches_the_quality_bar(tmp_path):
    """The issue's bar, for real: default mlp on digits >= 0.97 test accuracy (50 epochs)."""
    result = _train(tmp_path, epochs=50)
    assert result.test_accuracy >= 0.97, result
    # its time is a benchmark, not an assertion: tests/bench/bench_train.py (the quality bars)


def test_default_cnn_reaches_the_quality_bar(tmp_path):
    """The issue's bar, for real: default cnn on digits >= 0.98 test accuracy (30 epochs)."""
    result = _train(tmp_path, model="cnn", epochs=30)
    assert result.test_accuracy >= 0.98, result
    # its time is a benchmark, not an assertion: tests/bench/bench_train.py (the quality bars)


def test_subprocess_json_and_calculators_stay_light(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlcli",
            "train",
            "mlp",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--json",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["out"] == str(out)
    assert proc.stderr.count("epoch 1/1") == 1  # a log, not a terminal: one line per epoch
    light = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dlcli", "featsize", "32", "-k", "5"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert light.returncode == 0
    heavy = [
        ln
        for ln in light.stderr.splitlines()
        if any(f" {m}" in ln for m in ("torch", "numpy", "PIL", "safetensors"))
    ]
    assert heavy == []


def test_checkpoint_rotation_survives_a_torn_write(tmp_path, monkeypatch):
    from dlcli.training.runs import files as rd

    monkeypatch.setattr(engine_callbacks, "CHECKPOINT_SECONDS", 0.0)  # write after every epoch
    _train(tmp_path, "r", epochs=3, seed=2)
    run = tmp_path / "r"
    final = load_file(run / "model.safetensors")
    assert rd.load_tensors(run / "checkpoint.safetensors")[1]["epoch"] == 3
    assert rd.load_tensors(run / "checkpoint.prev.safetensors")[1]["epoch"] == 2
    data = (run / "checkpoint.safetensors").read_bytes()
    (run / "checkpoint.safetensors").write_bytes(data[: len(data) // 2])  # a crash mid-write
    assert checkpoint.load(run).state.epoch == 2
    setup.resume(run)  # epoch 3 again, from the previous checkpoint
    again = load_file(run / "model.safetensors")
    assert all(torch.equal(final[k], again[k]) for k in final)


def test_divergence_is_a_runtime_failure_with_one_line(tmp_path):
    out = tmp_path / "boom"
    result = cli(
        "train",
        "mlp",
        "--optimizer",
        "sgd",
        "--lr",
        "1e12",
        "--epochs",
        "5",
        "--threads",
        "1",
        "--json",
        "--out",
        out,
    )
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert (
        lines[-1].startswith("dlcli: error: training diverged in epoch 1") and "--lr" in lines[-1]
    )
    assert result.stdout == ""  # no JSON with NaN in it
    assert json.loads((out / "config.json").read_text())["status"] == "diverged"


def test_every_file_of_a_run_folder_gets_the_umask_mode(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_callbacks, "CHECKPOINT_SECONDS", 0.0)  # both checkpoints get written
    old = os.umask(0o022)
    try:
        _train(tmp_path, "r", epochs=3, seed=2, callbacks=[_CtrlC()])  # Ctrl-C after epoch 2
    except KeyboardInterrupt:
        pass
    finally:
        os.umask(old)
    old = os.umask(0o022)
    try:
        setup.train(
            "mlp",
            MLPConfig(hidden=(8,)),
            DataConfig(source="spiral:n=30"),  # 2-D data: boundary.png too
            TrainConfig(epochs=3, threads=1, device="cpu"),
            tmp_path / "s",
        )
    finally:
        os.umask(old)
    for folder in (tmp_path / "r", tmp_path / "s"):
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in folder.iterdir()}
        assert set(modes.values()) == {"0o644"}, modes
    names = set(os.listdir(tmp_path / "s"))
    assert names == {
        "config.json",
        "model.safetensors",
        "checkpoint.safetensors",
        "checkpoint.prev.safetensors",
        "history.csv",
        "metrics.json",
        "curves.png",
        "boundary.png",
    }
    assert {"config.json", "checkpoint.safetensors", "history.csv"} <= set(
        os.listdir(tmp_path / "r")
    )  # interrupted: what it saved


def test_train_state_round_trips_and_a_damaged_one_names_its_file(tmp_path):
    from dlcli.errors import InputError
    from dlcli.training.runs import files as rd

    state = checkpoint.TrainState()
    state.record({"epoch": 1, "val_loss": 0.5}, patience=2)
    state.record({"epoch": 2, "val_loss": 0.7}, patience=2)
    assert (state.epoch, state.best_epoch, state.best_loss, state.wait) == (2, 1, 0.5, 1)
    assert not state.stopped_early
    state.record({"epoch": 3, "val_loss": 0.6}, patience=2)
    assert state.stopped_early and state.wait == 2
    state.optimizer = {"param_groups": [], "scalars": {}}
    doc = json.loads(json.dumps(state.to_dict()))
    assert checkpoint.TrainState.from_dict(doc, tmp_path) == state

    _train(tmp_path, "r", epochs=1)
    run = tmp_path / "r"
    tensors, meta = rd.load_tensors(run / "checkpoint.safetensors")
    meta["history"] = "oops"
    checkpoint.save(run, tensors, meta)  # the good one becomes checkpoint.prev
    with pytest.raises(InputError, match=r"checkpoint\.safetensors: damaged checkpoint.*history"):
        setup.resume(run, epochs=2)

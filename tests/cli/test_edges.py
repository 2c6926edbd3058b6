"""Trust at the edges: absurd sizes, garbage that used to exit 0, messages that misled, library
warnings, files that are not regular files, and exact accuracies (issue 9)."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_input_error, cli

from dlcli.errors import InputError
from dlcli.files import check_regular, human_bytes

FAST = ("--epochs", "1", "--threads", "1")


def _nothing_written(tmp_path: Path, out: Path) -> None:
    assert not out.exists(), list(out.iterdir())


# --- 1. absurd sizes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["mlp", "--hidden", str(10**30)], ["mlp model needs", "of weights", "4.0 GB"]),
        # (10**30 channels is over 2**63: the layer parser refuses it,
        # tests/calculators/test_featsize_solve.py)
        (["cnn", "--layers", f"conv3-{10**15}"], ["cnn model needs", "of weights"]),
        (["lstm", "--hidden-size", str(10**30)], ["lstm model needs", "of weights"]),
        (["resnet", "--width", "4096", "--depth", "110"], ["resnet model needs"]),
        (["mlp", "--hidden", "100000", "--batch-size", "100000"], ["--batch-size", "16.0 GB"]),
        (["mlp", "--data", f"spiral:n={10**30}"], ["invalid spiral", "10,000,000 points"]),
        (["mlp", "--data", "spiral:classes=100000"], ["invalid spiral", "classes <= 1000"]),
        (["mlp", "--data", "spiral:noise=inf"], ["invalid spiral", "finite noise"]),
    ],
    ids=[
        "hidden",
        "layers",
        "hidden-size",
        "resnet-width",
        "batch",
        "spiral-n",
        "classes",
        "noise",
    ],
)
def test_absurd_sizes_are_one_line_input_errors(tmp_path, args, fragments):
    out = tmp_path / "run"
    line = assert_input_error(cli("train", *args, *FAST, "--out", out), *fragments)
    assert "c10::Error" not in line and len(line) < 400
    _nothing_written(tmp_path, out)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        # refused as a damaged config (spec.py) before any size is counted
        ("input_shape", [10**12], "'input_shape'"),
        ("input_shape", [-3], "'input_shape'"),
        ("model_config.hidden", [10**9], "of weights"),
    ],
)
@pytest.mark.parametrize("command", ["evaluate", "predict", "resume"])
def test_absurd_sizes_in_config_json_are_refused_before_building(
    mlp_run, tmp_path, command, field, value, fragment
):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(mlp_run[0], run)
    config = json.loads((run / "config.json").read_text())
    if "." in field:
        outer, inner = field.split(".")
        config[outer][inner] = value
    else:
        config[field] = value
    (run / "config.json").write_text(json.dumps(config))
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 1, 8, 8), np.float32))
    args = {
        "evaluate": ["evaluate", run],
        "predict": ["predict", run, tmp_path / "x.npz"],
        "resume": ["train", "mlp", "--resume", run, "--epochs", "5"],
    }[command]
    assert_input_error(cli(*args), fragment)


def test_footprint_counts_the_parameters_torch_builds():
    """The oracle: the arithmetic before building agrees with the built model, every family."""
    from dlcli.training.families import footprint, get_family
    from dlcli.training.families.cnn import CNNConfig
    from dlcli.training.families.lstm import RecurrentConfig
    from dlcli.training.families.mlp import MLPConfig
    from dlcli.training.families.resnet import ResNetConfig

    cases = [
        ("mlp", MLPConfig(), (64,)),
        ("mlp", MLPConfig(hidden=()), (2,)),
        ("cnn", CNNConfig(), (1, 8, 8)),
        (
            "cnn",
            CNNConfig(layers="conv3-8,bn,relu,maxpool2,deconv4s2p1-4", hidden=(7, 5)),
            (3, 9, 9),
        ),
        ("resnet", ResNetConfig(), (1, 8, 8)),
        ("resnet", ResNetConfig(depth=32, width=8), (3, 32, 32)),
        ("lstm", RecurrentConfig(), (8, 8)),
        ("lstm", RecurrentConfig(cell="gru", bidirectional=True, num_layers=2), (8, 8)),
        ("lstm", RecurrentConfig(vocab=("<pad>", "<unk>", "a"), cell="rnn"), (20,)),
    ]
    for name, config, shape in cases:
        model = get_family(name).build(config, shape, 10)
        built = sum(p.numel() for p in model.parameters())
        assert footprint(name, config, shape, 10).params == built, (name, config)


def test_human_bytes():
    assert human_bytes(512) == "512 bytes"
    assert human_bytes(4 * 10**12) == "4.0 TB"
    assert human_bytes(3 * 10**40) == "3.0e+40 bytes"


# --- 2. garbage that used to exit 0 -------------------------------------------------------------


def test_csv_with_one_class(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("a,label\n" + "".join(f"{i},x\n" for i in range(20)))
    out = tmp_path / "run"
    assert_input_error(
        cli("train", "mlp", "--data", path, *FAST, "--out", out), "at least 2 classes"
    )
    _nothing_written(tmp_path, out)


def test_npz_with_no_features(tmp_path):
    path = tmp_path / "empty.npz"
    np.savez(path, x=np.zeros((20, 0), np.float32), y=np.arange(20) % 2)
    assert_input_error(cli("train", "mlp", "--data", path, *FAST), "no values to learn from")


@pytest.mark.parametrize("data", ["digits", "spiral"])
def test_target_on_data_without_columns(tmp_path, data):
    assert_input_error(cli("train", "mlp", "--data", data, "--target", "y", *FAST), "--target")


def test_image_size_on_a_csv(tmp_path, blobs_csv):
    result = cli("train", "mlp", "--data", blobs_csv, "--image-size", "8", *FAST)
    assert_input_error(result, "--image-size", "image folder")


# --- 3. messages that mislead -------------------------------------------------------------------


@pytest.mark.parametrize("lr", ["inf", "nan", "-1"])
def test_lr_must_be_a_positive_finite_number(lr):
    assert_input_error(cli("train", "mlp", "--lr", lr, *FAST), "--lr", "positive finite")


def test_float32_overflow_in_a_csv_is_an_input_error(tmp_path):
    path = tmp_path / "big.csv"
    rows = "".join(f"{i},{i % 2}\n" for i in range(20))
    path.write_text("a,label\n1e308,0\n" + rows)
    line = assert_input_error(cli("train", "mlp", "--data", path, *FAST), "float32", "row 1")
    assert "standardise" not in line


def test_diverged_message_does_not_blame_standardised_inputs(tmp_path, blobs_csv):
    from dlcli.training.config import TrainConfig
    from dlcli.training.data import Standardizer
    from dlcli.training.engine.finish import diverged_message
    from dlcli.training.runs.spec import RunSpec

    x = np.ones((4, 2), np.float32)
    spec = RunSpec("mlp", None, None, TrainConfig(lr=10.0), "flat", (2,), (2,), ["a", "b"], None)
    raw = diverged_message(spec, x * 1e30, 0, float("nan"))
    assert "1e+30" in raw and "overflow" in raw and "--no-standardize" in raw
    spec.standardizer = Standardizer.fit(x)
    done = diverged_message(spec, x, 0, float("nan"))
    assert "lower --lr (now 10)" in done and "are standardised" in done
    assert "standardise the" not in done
    # end to end: a huge learning rate on standardised data
    args = ["--data", blobs_csv, "--target", "species", "--lr", "1e30", "--optimizer", "sgd"]
    result = cli("train", "mlp", *args, "--epochs", "3", "--threads", "1", "--out", tmp_path / "r")
    assert result.exit_code == 1, result.output
    assert "lower --lr" in result.stderr and "standardise the" not in result.stderr


def test_too_few_samples_per_class_says_what_is_needed(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("a,label\n" + "".join(f"{i},c{i}\n" for i in range(60)))
    line = assert_input_error(cli("train", "mlp", "--data", path, *FAST), "60 classes")
    assert "at least 3 samples" in line and "largest has 1" in line


def test_npz_of_python_objects_never_suggests_unpickling(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    line = assert_input_error(cli("train", "mlp", "--data", path, *FAST), "Python objects")
    assert "allow_pickle" not in line and "never unpickles" in line


def test_folders_where_files_belong_say_so(tmp_path):
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    vectors = tmp_path / "v.txt"
    vectors.write_text("2 2\na 1 0\nb 0 1\n")
    for args in (
        ["word2vec", "similar", folder, "a"],
        ["word2vec", "evaluate", vectors, "--analogies", folder],
        ["word2vec", "evaluate", vectors, "--pairs", folder],
    ):
        line = assert_input_error(cli(*args), "is a folder")
        assert "does not exist" not in line


# --- 4. library warnings, files that are not regular files --------------------------------------


def test_check_regular(tmp_path):
    (tmp_path / "ok").write_text("x")
    assert check_regular(tmp_path / "ok", "data").st_size == 1  # its status: the file is fine
    os.symlink(tmp_path / "gone", tmp_path / "dangling")
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "zero")
    for name, fragment in [
        ("missing", "no such file"),
        ("dangling", "link to a missing file"),
        ("fifo", "not a regular file"),
        ("zero", "not a regular file"),
        ("", "is a folder"),
    ]:
        with pytest.raises(InputError, match=fragment):
            check_regular(tmp_path / name, "data")


@pytest.mark.parametrize("suffix", [".csv", ".npz", ".txt", ".bin"])
def test_readers_refuse_devices_and_fifos(tmp_path, suffix, mlp_run):
    link = tmp_path / f"zero{suffix}"
    os.symlink("/dev/zero", link)
    if suffix == ".bin":
        result = cli("word2vec", "similar", link, "a")
    elif suffix == ".txt":
        result = cli("train", "lstm", "--data", link, *FAST)
    else:
        result = cli("train", "mlp", "--data", link, *FAST)
    assert_input_error(result, "not a regular file")
    assert_input_error(cli("predict", mlp_run[0], link), "not a regular file")


def _png(path: Path, size=(8, 8), value=0) -> None:
    from PIL import Image

    Image.new("L", size, value).save(path)


def test_image_folder_notes_entries_that_are_not_files(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "img" / name).mkdir(parents=True)
        for i in range(8):
            _png(tmp_path / "img" / name / f"{i}.png", value=30 * i)
    os.symlink(tmp_path / "nowhere.png", tmp_path / "img" / "a" / "dangling.png")
    os.mkfifo(tmp_path / "img" / "b" / "fifo.png")
    result = cli("train", "mlp", "--data", tmp_path / "img", *FAST, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, result.stderr
    assert "skipped 2 entries" in warnings[0] and "dangling.png" in warnings[0]
    assert "fifo.png" in warnings[0]


def test_decompression_bomb_is_an_input_error_naming_the_file(tmp_path, mlp_run, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # a 20000x20000 PNG, in miniature
    for name in ("a", "b"):
        (tmp_path / "img" / name).mkdir(parents=True)
        _png(tmp_path / "img" / name / "small.png")
    _png(tmp_path / "img" / "a" / "big.png", size=(40, 40))  # 1,600 pixels: Pillow warns
    _png(tmp_path / "img" / "b" / "huge.png", size=(50, 50))  # 2,500: Pillow refuses
    result = cli("train", "cnn", "--data", tmp_path / "img", *FAST)
    assert_input_error(result, "big.png", "decompression-bomb limit", "1,000 pixels")
    (tmp_path / "img" / "a" / "big.png").unlink()
    result = cli("train", "cnn", "--data", tmp_path / "img", *FAST)
    assert_input_error(result, "huge.png", "decompression-bomb limit")


# --- 5. exact accuracies ------------------------------------------------------------------------


def test_accuracies_are_exact_fractions(mlp_run):
    out, doc = mlp_run
    for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
        n = doc[{"train_accuracy": "n_train", "val_accuracy": "n_val"}.get(key, "n_test")]
        fraction = Fraction(doc[key]).limit_denominator(n)
        assert float(fraction) == doc[key] and fraction.denominator <= n, (key, doc[key])
    ev = json.loads(cli("evaluate", out, "--json").stdout)
    assert ev["accuracy"] == doc["test_accuracy"]


# --- 6. curves.png ------------------------------------------------------------------------------


def test_nice_ticks_are_round():
    from dlcli.training.plots import _label, nice_ticks

    assert nice_ticks(0, 2.17) == [0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert nice_ticks(0, 1) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert [_label(v, nice_ticks(0, 1)) for v in nice_ticks(0, 1)] == [
        "0.0", "0.2", "0.4", "0.6", "0.8", "1.0"
    ]  # fmt: skip
    assert nice_ticks(1, 23, most=8) == [0, 5, 10, 15, 20, 25]
    assert nice_ticks(0, 0.0123) == pytest.approx([0, 0.005, 0.01, 0.015])
    assert nice_ticks(5, 5)[::5] == pytest.approx([5, 6])  # a flat series still gets an axis


def test_curves_png_names_the_loss_and_keeps_the_legend_off_the_lines():
    import io

    from PIL import Image

    from dlcli.training.plots import _PALETTE, curves_png

    # lines that run through the top right corner, where a legend inside the plot would sit
    history = [
        {"epoch": i + 1, "loss": 3.0 - i * 0.1, "accuracy": 0.9 + i * 0.01,
         "val_loss": 2.9 - i * 0.1, "val_accuracy": 0.91 + i * 0.009}
        for i in range(10)
    ]  # fmt: skip
    png = curves_png(history, "hinge")
    assert png != curves_png(history, "cross-entropy")  # the title names the loss
    img = Image.open(io.BytesIO(png)).convert("RGB")
    # the legend's swatches sit in the header row, above the plot area (y < 30)
    header = {img.getpixel((x, y)) for x in range(450) for y in range(30)}
    assert tuple(_PALETTE[0]) in header and tuple(_PALETTE[1]) in header
    # the accuracy panel spans 0..1: the lines near 1 stay below the top edge of the box
    column = [img.getpixel((880, y)) for y in range(30, 320)]
    assert {tuple(_PALETTE[0]), tuple(_PALETTE[1])} & set(column)

"""Data at scale: uint8 pixels converted per batch, memory maps, the fast CSV path, streaming
statistics and parallel decoding, each checked against the path it replaces (the oracle)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_input_error, cli

from dlcli.training.data import DataConfig, Standardizer, images, load_dataset, preprocess, tables
from dlcli.training.data.tables import read_csv_table


def _folder(tmp_path, n=12, size=(6, 7)):
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "img"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            if cls == "b":
                pixels[: size[0] // 2] //= 3  # something to learn
            Image.fromarray(pixels).save(root / cls / f"{i:02d}.png")
    return root


def _train(data, out, *extra):
    size = ["--image-size", "6x7"] if Path(data).is_dir() else []  # an .npz has its own size
    result = cli(
        "train", "cnn", "--data", data, "--layers", "conv3p1-4,maxpool2", "--hidden", "8",
        "--epochs", "2", "--batch-size", "5", *size, "--threads", "1",
        "--json", "--out", out, *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_uint8_image_folder_trains_evaluates_predicts_as_the_float_path(tmp_path):
    import torch

    from dlcli.training.runs import files as rd

    folder = _folder(tmp_path)
    ds = load_dataset(DataConfig(source=str(folder), image_size=(6, 7)))
    assert ds.x.dtype == np.uint8 and ds.pixel_max == 255
    # the float path: the same pixels as [0, 1] float32 in memory (a compressed .npz)
    floats = tmp_path / "floats.npz"
    labels = np.array([ds.class_names[i] for i in ds.y])
    np.savez_compressed(floats, x=ds.x.astype(np.float32) / np.float32(255), y=labels)
    assert load_dataset(DataConfig(source=str(floats))).x.dtype == np.float32

    doc_u8 = _train(folder, tmp_path / "u8")
    doc_f = _train(floats, tmp_path / "f")
    for key in ("train_loss", "val_loss", "test_loss", "test_accuracy", "train_accuracy"):
        assert doc_u8[key] == doc_f[key], key
    w_u8, _ = rd.load_tensors(tmp_path / "u8" / rd.WEIGHTS)
    w_f, _ = rd.load_tensors(tmp_path / "f" / rd.WEIGHTS)
    assert all(torch.equal(w_u8[k], w_f[k]) for k in w_u8)  # bit for bit
    config = json.loads((tmp_path / "u8" / rd.CONFIG).read_text())
    assert config["pixel_max"] == 255
    assert (
        config["standardize"] == json.loads((tmp_path / "f" / rd.CONFIG).read_text())["standardize"]
    )
    ev = json.loads(cli("evaluate", tmp_path / "u8", "--json").stdout)
    assert ev["accuracy"] == doc_u8["test_accuracy"] and ev["loss"] == doc_u8["test_loss"]
    # predict on an image file == the float run on the same pixels as floats
    image = sorted((folder / "b").iterdir())[0]
    p_u8 = json.loads(cli("predict", tmp_path / "u8", image, "--json").stdout)
    one = tmp_path / "one.npz"
    np.savez_compressed(one, x=ds.x[12:13].astype(np.float32) / np.float32(255))
    p_f = json.loads(cli("predict", tmp_path / "f", one, "--json").stdout)
    assert p_u8["predictions"][0]["probability"] == p_f["predictions"][0]["probability"]


def test_resumed_uint8_run_is_bit_identical(tmp_path):
    from dlcli.training.runs import files as rd

    folder = _folder(tmp_path)
    whole = _train(folder, tmp_path / "whole")
    cli("train", "cnn", "--data", folder, "--layers", "conv3p1-4,maxpool2", "--hidden", "8",
        "--epochs", "1", "--batch-size", "5", "--image-size", "6x7", "--threads", "1",
        "--json", "--out", tmp_path / "part")  # fmt: skip
    resumed = cli("train", "cnn", "--resume", tmp_path / "part", "--epochs", "2", "--json")
    assert resumed.exit_code == 0, resumed.output
    doc = json.loads(resumed.stdout)
    assert doc["test_loss"] == whole["test_loss"] and doc["train_loss"] == whole["train_loss"]
    a, _ = rd.load_tensors(tmp_path / "whole" / rd.WEIGHTS)
    b, _ = rd.load_tensors(tmp_path / "part" / rd.WEIGHTS)
    assert all((a[k] == b[k]).all() for k in a)


@pytest.mark.parametrize("kind", ["npz", "npy"])
def test_memory_mapped_arrays_train_and_evaluate(tmp_path, kind):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5)).astype(np.float64)
    y = (x[:, 0] > 0).astype(np.int64)
    if kind == "npz":
        path = tmp_path / "big.npz"
        np.savez(path, x=x, y=y)  # uncompressed: mapped, not read
    else:
        path = tmp_path / "big.npy"
        np.save(path, x)
        np.save(tmp_path / "big.labels.npy", y)
    ds = load_dataset(DataConfig(source=str(path)))
    assert isinstance(ds.x, np.memmap) and ds.x.dtype == np.float64
    np.testing.assert_array_equal(ds.x, x)
    out = tmp_path / "run"
    result = cli("train", "mlp", "--data", path, "--epochs", "3", "--threads", "1", "--json",
                 "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    ev = json.loads(cli("evaluate", out, "--json").stdout)
    assert ev["accuracy"] == doc["test_accuracy"] and ev["loss"] == doc["test_loss"]
    # the same numbers as the array read into memory (float32, preprocessed up front)
    packed = tmp_path / "packed.npz"
    np.savez_compressed(packed, x=x, y=y)
    twin = json.loads(
        cli(
            "train",
            "mlp",
            "--data",
            packed,
            "--epochs",
            "3",
            "--threads",
            "1",
            "--json",
            "--out",
            tmp_path / "twin",
        ).stdout  # fmt: skip
    )
    assert twin["test_loss"] == doc["test_loss"] and twin["train_loss"] == doc["train_loss"]
    pred = json.loads(cli("predict", out, path, "--json").stdout)
    assert len(pred["predictions"]) == 60


def test_npy_without_labels_says_where_they_go(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 3), np.float32))
    assert_input_error(cli("train", "mlp", "--data", tmp_path / "x.npy"), "x.npy", "x.labels.npy")


def test_memory_mapped_nan_is_found_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(preprocess, "STATS_CHUNK", 8)
    x = np.zeros((10, 4), np.float32)
    x[7, 2] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.arange(10) % 2)
    assert_input_error(cli("train", "mlp", "--data", tmp_path / "nan.npz"), "(7, 2)")


def test_fast_csv_equals_the_validating_parser(tmp_path, blobs_csv):
    path = tmp_path / "t.csv"
    rng = np.random.default_rng(2)
    rows = rng.normal(size=(50, 3))
    lines = ["a, b ,c,label"] + [
        f"{float(r[0])!r},{r[1]:.3g}, {r[2]:.5e},{i % 3}.0" for i, r in enumerate(rows)
    ]
    path.write_text("\n".join(lines) + "\n\n")
    fast = tables._read_csv_fast(path, "label", None)
    assert fast is not None
    checked = tables._read_csv_checked(path, "label", None)
    np.testing.assert_array_equal(fast[0], checked[0])
    assert fast[1] == checked[1] and fast[2] == checked[2]
    # string labels and the other columns: the validating parser's result
    got = read_csv_table(blobs_csv, "species")
    want = tables._read_csv_checked(blobs_csv, "species", None)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1:] == want[1:]


@pytest.mark.parametrize(
    "cell, fragments",
    [("x1", ["t.csv:40", "column 'b'", "'x1'"]), ("nan", ["t.csv:40", "column 'b'", "NaN"])],
)
def test_csv_errors_keep_file_line_and_column(tmp_path, cell, fragments):
    lines = ["a,b,label"] + [f"{i},{i * 2},{i % 2}" for i in range(60)]
    lines[39] = f"1,{cell},0"  # line 40 of the file
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    assert_input_error(cli("train", "mlp", "--data", tmp_path / "t.csv"), *fragments)


def test_streaming_statistics_equal_a_float64_full_pass(monkeypatch):
    monkeypatch.setattr(preprocess, "STATS_CHUNK", 100)  # many chunks, uneven last one
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (203, 3, 5, 4), dtype=np.uint8)
    rows = np.sort(rng.choice(203, 150, replace=False))
    got = Standardizer.fit(pixels, rows, pixel_max=255)
    full = (pixels[rows].astype(np.float32) / np.float32(255)).astype(np.float64)
    np.testing.assert_allclose(got.mean, full.mean(axis=(0, 2, 3))[:, None, None], rtol=1e-6)
    np.testing.assert_allclose(got.std, full.std(axis=(0, 2, 3))[:, None, None], rtol=1e-6)
    table = rng.normal(5.0, 3.0, size=(1001, 7)).astype(np.float32)
    got = Standardizer.fit(table)
    np.testing.assert_allclose(got.mean, table.astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(got.std, table.astype(np.float64).std(0), rtol=1e-6)


def test_parallel_decode_equals_serial(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "DECODE_REPORT_EVERY", 4)  # many tasks for the pool
    folder = _folder(tmp_path, n=20)
    paths = [p for c in sorted(folder.iterdir()) for p in sorted(c.iterdir())]
    events = []
    parallel = images.read_images(paths, (5, 4), "RGB", workers=3, on_progress=events.append)
    serial = images.read_images(paths, (5, 4), "RGB", workers=1)
    np.testing.assert_array_equal(parallel, serial)
    assert parallel.dtype == np.uint8 and parallel.shape == (40, 3, 5, 4)
    assert [e.done for e in events] == list(range(4, 41, 4)) and events[-1].total == 40
    with images.reporting_decode(events.append):
        images.read_images(paths[:3], (5, 4), "L")
    assert events[-1].done == 3 and events[-1].total == 3


def test_train_reports_image_decoding_on_stderr(tmp_path, monkeypatch):
    from dlcli.cli.data import DecodeView

    monkeypatch.setattr(DecodeView, "DECODE_LINE_FROM", 10)
    folder = _folder(tmp_path)
    result = cli(
        "train", "cnn", "--data", folder, "--layers", "conv3p1-2,maxpool2", "--hidden", "0",
        "--epochs", "1", "--image-size", "6x7", "--json", "--out", tmp_path / "r",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"decoding 24 images of {folder}" in result.stderr
    json.loads(result.stdout)  # stdout stays the JSON document

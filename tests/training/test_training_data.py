"""The data module: built-in data, CSV / .npz / image folders, the split, standardisation, and
clear errors (file, line, column) for bad input, with nothing written."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from conftest import assert_input_error, cli

from dlcli.training.data import (
    SAMPLE_DATA,
    DataConfig,
    Standardizer,
    load_dataset,
    split_indices,
    to_layout,
)


def test_digits_match_the_bundled_file():
    d = load_dataset(DataConfig())
    assert d.x.shape == (1797, 1, 8, 8) and d.y.shape == (1797,)
    assert d.class_names == [str(i) for i in range(10)]
    # oracle: an independent parse of the same file
    with gzip.open(SAMPLE_DATA / "digits.csv.gz", "rt") as fh:
        rows = [list(map(float, line.split(","))) for line in fh if line.strip()]
    assert np.array_equal(d.x.reshape(1797, 64), np.array(rows)[:, :64])
    assert np.array_equal(d.y, np.array(rows)[:, 64].astype(int))
    assert np.bincount(d.y).min() >= 170


def test_split_is_stratified_disjoint_and_seeded():
    y = load_dataset(DataConfig()).y
    a, b, c = (split_indices(y, 0.2, 0.1, s) for s in (0, 0, 1))
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("train", "val", "test"))
    assert not np.array_equal(a.test, c.test)
    together = np.concatenate([a.train, a.val, a.test])
    assert len(together) == len(set(together.tolist())) == len(y)
    for cls in range(10):  # every class keeps its share in the test split
        share = np.mean(y[a.test] == cls)
        assert share == pytest.approx(np.mean(y == cls), abs=0.01)


def test_standardizer_uses_train_statistics_per_feature_or_channel():
    rng = np.random.default_rng(0)
    tab = rng.normal(5, 3, size=(50, 4)).astype(np.float32)
    tab[:, 3] = 7.0  # constant: centred only
    s = Standardizer.fit(tab)
    z = s(tab)
    assert np.allclose(z[:, :3].mean(0), 0, atol=1e-5) and np.allclose(
        z[:, :3].std(0), 1, atol=1e-4
    )
    assert np.all(z[:, 3] == 0)
    img = rng.normal(2, 4, size=(10, 3, 5, 5)).astype(np.float32)
    si = Standardizer.fit(img)
    assert si.mean.shape == (3, 1, 1)
    assert np.allclose(si(img).mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert (
        Standardizer.from_dict(json.loads(json.dumps(si.to_dict()))).mean.tolist()
        == si.mean.tolist()
    )


def test_layouts():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    assert to_layout(x, "flat").shape == (2, 60)
    assert to_layout(x, "image").shape == (2, 3, 4, 5)
    seq = to_layout(x, "sequence")  # rows as time steps
    assert seq.shape == (2, 4, 15)
    assert np.array_equal(seq[1, 2], x[1, :, 2, :].reshape(-1))
    assert to_layout(np.zeros((3, 7), np.float32), "sequence").shape == (3, 7, 1)


def test_csv_classes_by_name_and_feature_order(blobs_csv):
    d = load_dataset(DataConfig(source=str(blobs_csv), target="species"))
    assert d.class_names == ["setosa", "versicolor", "virginica"]
    assert d.feature_names == ["a", "b", "noise"] and d.x.shape == (90, 3)
    assert np.bincount(d.y).tolist() == [30, 30, 30]


def test_npz_and_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((12, 6, 6)), y=np.array([3, 10] * 6))
    d = load_dataset(DataConfig(source=str(tmp_path / "d.npz")))
    assert d.x.shape == (12, 1, 6, 6) and d.class_names == ["3", "10"]  # numeric order
    for cls, value in (("cat", 30), ("dog", 220)):
        (tmp_path / "img" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (10, 12), (value, value // 2, i)).save(
                tmp_path / "img" / cls / f"{i}.png"
            )
    d = load_dataset(DataConfig(source=str(tmp_path / "img"), image_size=(4, 5)))
    assert d.x.shape == (6, 3, 4, 5) and d.class_names == ["cat", "dog"] and d.image_mode == "RGB"
    # uint8 pixels; the model sees them / 255 (converted per batch)
    assert d.x.dtype == np.uint8 and d.pixel_max == 255 and d.x[0, 0, 0, 0] == 30


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        ("empty.csv", "", ["empty.csv: the file is empty"]),
        ("header.csv", "a,b,label\n", ["header.csv: has a header but no data rows"]),
        ("ragged.csv", "a,b,label\n1,2,x\n1,2\n", ["ragged.csv:3:", "expected 3 columns", "got 2"]),
        (
            "text.csv",
            "a,b,label\n1,2,x\n1,zz,y\n",
            ["text.csv:3:", "column 'b'", "'zz' is not a number"],
        ),
        ("nan.csv", "a,b,label\n1,nan,x\n", ["nan.csv:2:", "column 'b'", "NaN"]),
        ("nolabel.csv", "a,b,c\n1,2,3\n", ["no label column 'label'", "--target"]),
        ("bad.npz", "not a zip", ["bad.npz: not a readable .npz"]),
        ("data.txt", "1,2\n", ["unknown type '.txt'"]),
    ],
)
def test_bad_files_exit_2_and_write_nothing(tmp_path, name, content, fragments):
    path = _write(tmp_path / name, content)
    out = tmp_path / "run"
    assert_input_error(cli("train", "mlp", "--data", path, "--out", out), *fragments)
    assert not out.exists()


def test_bad_npz_arrays(tmp_path):
    np.savez(tmp_path / "nox.npz", y=np.zeros(3))
    assert_input_error(cli("train", "mlp", "--data", tmp_path / "nox.npz"), "no array 'x'")
    x = np.ones((4, 2))
    x[2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.arange(4))
    assert_input_error(cli("train", "mlp", "--data", tmp_path / "nan.npz"), "NaN", "(2, 1)")
    np.savez(tmp_path / "len.npz", x=np.ones((4, 2)), y=np.arange(3))
    assert_input_error(cli("train", "mlp", "--data", tmp_path / "len.npz"), "'y' has shape")


def test_bad_image_folders(tmp_path):
    (tmp_path / "none" / "a").mkdir(parents=True)
    (tmp_path / "none" / "a" / "notes.txt").write_text("x")
    assert_input_error(cli("train", "cnn", "--data", tmp_path / "none"), "no images found")
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "broken" / cls).mkdir(parents=True)
        Image.new("L", (8, 8)).save(tmp_path / "broken" / cls / "ok.png")
    (tmp_path / "broken" / "b" / "bad.png").write_bytes(b"not a png")
    line = assert_input_error(
        cli("train", "cnn", "--data", tmp_path / "broken", "--out", tmp_path / "run"),
        "bad.png",
        "cannot read the image",
    )
    assert "broken" in line and not (tmp_path / "run").exists()


def test_input_kind_is_the_one_dispatcher_on_input_types(tmp_path):
    from dlcli.training.data import input_kind

    (tmp_path / "photos").mkdir()
    for name in ("a.csv", "a.CSV.gz", "a.csv.bz2", "a.csv.xz", "a.txt", "a.txt.gz", "a.npz"):
        (tmp_path / name).write_bytes(b"")
    for name in ("a.png", "a.JPG", "a.npz.gz", "a.json"):
        (tmp_path / name).write_bytes(b"")
    expected = {
        "photos": "folder",
        "a.csv": "csv",
        "a.CSV.gz": "csv",
        "a.csv.bz2": "csv",
        "a.csv.xz": "csv",
        "a.txt": "text",
        "a.txt.gz": "text",
        "a.npz": "npz",
        "a.png": "image",
        "a.JPG": "image",
        "a.npz.gz": "unknown",  # numpy reads no compressed archives
        "a.json": "unknown",
        "nothing.csv": "missing",
    }
    assert {name: input_kind(tmp_path / name) for name in expected} == expected
    assert [input_kind(s) for s in ("digits", "spiral", "Spiral:n=5")] == ["builtin"] * 3


def _guide_example() -> str:
    """The worked example in `dlcli.training.data`'s docstring (its `::` block)."""
    import textwrap

    import dlcli.training.data as data

    doc = data.__doc__ or ""
    block = doc.split("::\n", 1)[1].split("\nand in `registry.KINDS`", 1)[0]
    return textwrap.dedent(block)


def test_a_new_input_kind_is_one_module_and_one_registry_line(tmp_path, monkeypatch):
    """The extension guide's .tsv kind, run as written: registered in `registry.KINDS`, it is
    recognised, checked like every kind (--target, --image-size) and trains from the CLI."""
    import sys
    import types

    from dlcli.training.data import input_kind, registry

    tsv = types.ModuleType("dlcli_test_tsv")
    monkeypatch.setitem(sys.modules, tsv.__name__, tsv)
    exec(compile(_guide_example(), "<the guide's tsv.py>", "exec"), tsv.__dict__)
    monkeypatch.setattr(registry, "KINDS", (*registry.KINDS, tsv.KIND))

    rng = np.random.default_rng(0)
    rows = [f"{c * 4 + rng.normal():.4f}\t{name}\t{rng.normal():.4f}"
            for c, name in enumerate(["cat", "dog"]) for _ in range(30)]  # fmt: skip
    path = tmp_path / "table.tsv"
    path.write_text("a\tkind\tb\n" + "\n".join(rows) + "\n")
    assert input_kind(path) == "tsv" and input_kind(tmp_path / "none.tsv") == "missing"

    out = tmp_path / "run"
    args = ("--data", path, "--target", "kind", "--epochs", "20", "--seed", "0")
    result = cli("train", "mlp", *args, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["test_accuracy"] > 0.9, doc
    config = json.loads((out / "config.json").read_text())
    assert config["class_names"] == ["cat", "dog"] and config["feature_names"] == ["a", "b"]
    # evaluate --data reads it through the shared loader (the kind has no `labelled` reader)
    result = cli("evaluate", out, "--data", path, "--target", "kind", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 60
    assert_input_error(cli("evaluate", out, "--data", path), "table.tsv", "no label column 'label'")
    # the shared checks apply to the new kind: it reads no --image-size
    line = assert_input_error(
        cli("train", "mlp", "--data", path, "--image-size", "8x8", "--out", tmp_path / "r2"),
        "--image-size resizes the images of an image folder",
    )
    assert "table.tsv" in line and not (tmp_path / "r2").exists()


def test_compressed_csv_reads_like_the_plain_one(tmp_path, blobs_csv):
    import bz2
    import lzma

    plain = load_dataset(DataConfig(source=str(blobs_csv), target="species"))
    for suffix, compress in (
        (".gz", gzip.compress),
        (".bz2", bz2.compress),
        (".xz", lzma.compress),
    ):
        path = tmp_path / f"blobs.csv{suffix}"
        path.write_bytes(compress(blobs_csv.read_bytes()))
        packed = load_dataset(DataConfig(source=str(path), target="species"))
        assert np.array_equal(packed.x, plain.x) and packed.class_names == plain.class_names
    (tmp_path / "bad.csv.xz").write_bytes(b"not xz at all")
    assert_input_error(
        cli("train", "mlp", "--data", tmp_path / "bad.csv.xz", "--target", "species"),
        "bad.csv.xz: cannot read",
    )

"""`dlcli evaluate` and `dlcli predict`: rebuilt from the run folder, checked against the run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import assert_input_error, cli


def test_evaluate_reproduces_the_runs_test_accuracy(mlp_run):
    out, doc = mlp_run
    result = cli("evaluate", out, "--json")
    assert result.exit_code == 0, result.output
    ev = json.loads(result.stdout)
    assert ev["accuracy"] == doc["test_accuracy"] and ev["loss"] == doc["test_loss"]
    assert ev["n"] == doc["n_test"]
    confusion = np.array(ev["confusion"])
    assert confusion.sum() == ev["n"]
    assert np.trace(confusion) / ev["n"] == pytest.approx(ev["accuracy"])
    for i, row in enumerate(ev["per_class"]):  # oracle: precision/recall from the matrix
        assert row["support"] == confusion[i].sum()
        assert row["recall"] == pytest.approx(confusion[i, i] / confusion[i].sum())
        assert row["precision"] == pytest.approx(confusion[i, i] / confusion[:, i].sum())
    from dlcli.training.evaluate import evaluate

    assert evaluate(out).to_dict() == ev  # the library's result is the --json document
    table = cli("evaluate", out)
    assert table.exit_code == 0 and "confusion matrix" in table.stdout
    assert f"{doc['test_accuracy']:.4f}" in table.stdout


def test_csv_train_evaluate_predict(tmp_path, blobs_csv):
    out = tmp_path / "blobs"
    result = cli(
        "train",
        "mlp",
        "--data",
        blobs_csv,
        "--target",
        "species",
        "--lr",
        "0.03",
        "--epochs",
        "30",
        "--threads",
        "1",
        "--json",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["classes"] == ["setosa", "versicolor", "virginica"]
    # evaluate on the whole file: labels matched by class name
    ev = json.loads(
        cli("evaluate", out, "--data", blobs_csv, "--target", "species", "--json").stdout
    )
    assert ev["n"] == 90 and ev["accuracy"] > 0.9
    # predict: columns by name, in another order, without the label column
    rows = tmp_path / "new.csv"
    rows.write_text("noise,b,a\n0.1,0.0,0.0\n-0.2,0.2,4.1\n0.0,3.9,-0.1\n")
    pred = cli("predict", out, rows, "--json", "--top", "2")
    assert pred.exit_code == 0, pred.output
    predictions = json.loads(pred.stdout)["predictions"]
    assert [p["class"] for p in predictions] == ["setosa", "versicolor", "virginica"]
    assert [p["input"] for p in predictions] == [f"{rows}:{i}" for i in (1, 2, 3)]
    assert all(0.0 <= p["probability"] <= 1.0 and len(p["top"]) == 2 for p in predictions)
    # oracle: probabilities are the softmax of the rebuilt model's scores
    from dlcli.training.evaluate import load_run

    loaded = load_run(out, "cpu")
    x = loaded.spec.preprocess(np.array([[0.0, 0.0, 0.1]], np.float32))
    probs = torch.softmax(loaded.model(torch.from_numpy(x)), 1)
    assert predictions[0]["probability"] == pytest.approx(probs.max().item(), rel=1e-5)
    from dlcli.training.evaluate import predict

    assert predict(out, [str(rows)], top=2).to_dict() == json.loads(pred.stdout)
    table = cli("predict", out, rows)
    assert table.exit_code == 0 and "setosa" in table.stdout
    # a CSV without a trained column
    (tmp_path / "short.csv").write_text("a,b\n1,2\n")
    assert_input_error(cli("predict", out, tmp_path / "short.csv"), "missing feature column")


def test_image_folder_cnn_then_predict_images(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, value in (("dark", 40), ("light", 210)):
        (tmp_path / "img" / cls).mkdir(parents=True)
        for i in range(8):
            pixels = np.clip(rng.normal(value, 20, (12, 12)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "L").save(tmp_path / "img" / cls / f"{i}.png")
    out = tmp_path / "run"
    result = cli(
        "train",
        "cnn",
        "--data",
        tmp_path / "img",
        "--image-size",
        "8",
        "--layers",
        "conv3p1-4,maxpool2",
        "--hidden",
        "8",
        "--epochs",
        "20",
        "--test-fraction",
        "0.25",
        "--val-fraction",
        "0.25",
        "--threads",
        "1",
        "--json",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["image_mode"] == "L" and config["sample_shape"] == [1, 8, 8]
    Image.new("L", (30, 20), 230).save(tmp_path / "bright.jpg")
    pred = cli("predict", out, tmp_path / "bright.jpg", tmp_path / "img" / "dark", "--json")
    assert pred.exit_code == 0, pred.output
    predictions = json.loads(pred.stdout)["predictions"]
    assert len(predictions) == 9 and predictions[0]["class"] == "light"
    ev = json.loads(cli("evaluate", out, "--data", tmp_path / "img", "--json").stdout)
    assert ev["n"] == 16 and ev["classes"] == ["dark", "light"]


def test_predict_npz_on_digits(mlp_run, tmp_path):
    out, _ = mlp_run
    from dlcli.training.data import load_digits

    d = load_digits()
    np.savez(tmp_path / "few.npz", x=d.x[:5, 0])  # (5, 8, 8): no labels needed
    pred = cli("predict", out, tmp_path / "few.npz", "--json")
    assert pred.exit_code == 0, pred.output
    assert len(json.loads(pred.stdout)["predictions"]) == 5
    from PIL import Image

    Image.new("L", (8, 8)).save(tmp_path / "eight.png")
    assert_input_error(cli("predict", out, tmp_path / "eight.png"), "not on image files")
    np.savez(tmp_path / "wrong.npz", x=np.zeros((2, 5, 5)))
    assert_input_error(cli("predict", out, tmp_path / "wrong.npz"), "shape 1x5x5", "1x8x8")


def test_evaluate_and_predict_errors(tmp_path, mlp_run):
    out, _ = mlp_run
    assert_input_error(cli("evaluate", tmp_path / "nope"), "not found")
    (tmp_path / "empty").mkdir()
    assert_input_error(cli("evaluate", tmp_path / "empty"), "config.json")
    assert_input_error(cli("predict", out, tmp_path / "missing.csv"), "not found")
    assert_input_error(cli("predict", out, "x.parquet"), "not found")
    assert_input_error(
        cli("evaluate", out, "--device", "cuda"), "--device cuda"
    ) if not torch.cuda.is_available() else None

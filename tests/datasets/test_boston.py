"""The named regression dataset `boston_housing` (Keras's `boston_housing.npz`), without the
internet: a tiny .npz in the real format (arrays x (N, 13) and y (N,), float64, np.savez) served
by a local HTTP server through DLCLI_DATA_URL, its checksum in a DLCLI_DATA_REGISTRY file.

Oracles: the arrays the test wrote, put in the order of Keras's published algorithm
(`np.random.RandomState(113)` shuffles arange(N); the first int(N * 0.8) rows train)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import threading

import numpy as np
import pytest

from tests.conftest import assert_input_error, cli

ROWS = 40


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def boston(tmp_path, monkeypatch):
    """A mirror serving boston_housing/boston_housing.npz, a registry with its SHA-256, a fresh
    cache; yields the written arrays and the requests the server saw."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(ROWS, 13)) * np.arange(1, 14)  # columns of different scales
    y = x @ rng.normal(size=13) + 20.0
    data = _npz(x=x, y=y)
    root = tmp_path / "mirror"
    (root / "boston_housing").mkdir(parents=True)
    (root / "boston_housing" / "boston_housing.npz").write_bytes(data)
    registry = tmp_path / "registry.txt"
    registry.write_text(f"boston_housing/boston_housing.npz {hashlib.sha256(data).hexdigest()}\n")
    requests: list[str] = []

    class Handler(_Quiet):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("DLCLI_DATA_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("DLCLI_DATA_REGISTRY", str(registry))
    monkeypatch.setenv("DLCLI_DATA_DIR", str(tmp_path / "cache"))
    yield {"x": x, "y": y, "requests": requests, "root": root, "cache": tmp_path / "cache"}
    server.shutdown()
    server.server_close()


def _keras_split(x, y, seed=113, test_split=0.2):
    """keras.datasets.boston_housing.load_data, as published."""
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x))
    rng.shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def test_shipped_entry_is_kerass_file_hash_and_size(monkeypatch):
    from dlcli.datasets.registry import get, registered

    monkeypatch.delenv("DLCLI_DATA_REGISTRY", raising=False)
    entry = registered()["boston_housing/boston_housing.npz"]
    assert entry.sha256 == "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"
    assert entry.size == 57_026 == get("boston_housing").files[0].size
    info = get("Boston_Housing")
    assert (info.kind, info.train, info.test, info.classes) == ("table", 404, 102, None)
    assert info.origins[0] == "https://storage.googleapis.com/tensorflow/tf-keras-datasets"


def test_reader_reproduces_kerass_official_split(boston):
    from dlcli.datasets.api import load_table

    data = load_table("boston_housing")
    (x_train, y_train), (x_test, y_test) = _keras_split(boston["x"], boston["y"])
    assert data.n_train == len(x_train) == int(ROWS * 0.8)
    np.testing.assert_array_equal(data.x[: data.n_train], x_train)
    np.testing.assert_array_equal(data.y[: data.n_train], y_train)
    np.testing.assert_array_equal(data.x[data.test], x_test)
    np.testing.assert_array_equal(data.y[data.test], y_test)
    assert data.feature_names[0] == "CRIM" and data.feature_names[-1] == "LSTAT"
    assert len(data.feature_names) == 13 and data.target_names == ["MEDV"]
    assert boston["requests"] == ["/boston_housing/boston_housing.npz"]


def test_keras_order_of_the_real_506_rows():
    """The real file's split sizes, and the order as the published algorithm draws it."""
    from dlcli.datasets.boston import keras_order

    order, n_train = keras_order(506)
    (x_train, _), (x_test, _) = _keras_split(np.arange(506)[:, None], np.arange(506))
    assert n_train == 404 and len(order) == 506 and sorted(order) == list(range(506))
    assert order[:404] == x_train[:, 0].tolist() and order[404:] == x_test[:, 0].tolist()


def test_training_data_is_a_named_regression_dataset(boston):
    from dlcli.training.config import DataConfig
    from dlcli.training.data import input_kind, load_dataset

    assert input_kind("boston_housing") == "named"
    data = load_dataset(DataConfig(source="boston_housing"))
    (x_train, y_train), (x_test, y_test) = _keras_split(boston["x"], boston["y"])
    assert data.x.dtype == np.float32 and data.x.shape == (ROWS, 13)
    assert data.y.dtype == np.float32 and data.y.shape == (ROWS, 1)
    assert data.class_names == [] and data.target_names == ["MEDV"]
    assert data.feature_names is not None and data.feature_names[5] == "RM"
    np.testing.assert_array_equal(data.x[data.fixed_test], x_test.astype(np.float32))
    np.testing.assert_array_equal(data.y[data.fixed_test, 0], y_test.astype(np.float32))
    assert data.fixed_test.tolist() == list(range(len(x_train), ROWS))


def test_data_list_and_fetch_show_it(boston):
    listing = cli("data", "list", "--json")
    assert listing.exit_code == 0, listing.output
    entry = next(d for d in json.loads(listing.stdout)["datasets"] if d["name"] == "boston_housing")
    assert entry["kind"] == "table" and (entry["train"], entry["test"]) == (404, 102)
    assert entry["files"] == ["boston_housing.npz"] and entry["cached"] is False
    table = cli("data", "list")
    assert table.exit_code == 0 and "boston_housing" in table.stdout
    fetched = cli("data", "fetch", "boston_housing", "-q")
    assert fetched.exit_code == 0, fetched.output
    assert fetched.stdout.strip() == str(boston["cache"] / "boston_housing")
    again = json.loads(cli("data", "list", "--json").stdout)["datasets"]
    assert next(d for d in again if d["name"] == "boston_housing")["cached"] is True


def test_a_table_is_not_images_nor_text(boston):
    from dlcli.datasets.api import load_images
    from dlcli.errors import InputError

    with pytest.raises(InputError, match="a table of numbers for regression.*--loss mse"):
        load_images("boston_housing")
    assert_input_error(
        cli("train", "mlp", "--data", "boston_housing", "--image-size", "8", "--epochs", "1"),
        "boston_housing is a table of numbers: drop --image-size",
    )
    assert boston["requests"] == []


@pytest.mark.parametrize(
    "arrays, fragment",
    [
        ({"x": np.zeros((5, 12)), "y": np.zeros(5)}, "expected x of shape (N, 13)"),
        ({"x": np.zeros((5, 13)), "y": np.zeros(4)}, "expected x of shape (N, 13)"),
        ({"data": np.zeros((5, 13))}, "expected arrays 'x' and 'y'"),
        ({"x": np.array([None] * 13 * 5, dtype=object).reshape(5, 13), "y": np.zeros(5)},
         "without pickled objects"),
    ],
)  # fmt: skip
def test_a_file_of_another_shape_is_refused(tmp_path, arrays, fragment):
    from dlcli.datasets.boston import load_boston
    from dlcli.errors import InputError

    path = tmp_path / "boston_housing.npz"
    path.write_bytes(_npz(**arrays))
    with pytest.raises(InputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_boston(path)


def test_train_on_boston_housing_keeps_kerass_test_rows(boston, tmp_path):
    import dlcli

    out = tmp_path / "run"
    result = cli(
        "train", "mlp", "--data", "boston_housing", "--loss", "mse", "--hidden", "8",
        "--epochs", "2", "--threads", "1", "--json", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    n_train = int(ROWS * 0.8)
    assert doc["task"] == "regression" and doc["targets"] == ["MEDV"]
    assert doc["n_test"] == ROWS - n_train and doc["n_train"] + doc["n_val"] == n_train
    # the test metrics are those of Keras's x_test, y_test: R² by hand on predict's numbers
    _, (x_test, y_test) = _keras_split(boston["x"], boston["y"])
    inputs = tmp_path / "x_test.npz"
    np.savez(inputs, x=x_test.astype(np.float32))
    predicted = dlcli.predict(out, [str(inputs)], device="cpu").to_dict()["predictions"]
    p = np.array([row["prediction"][0] for row in predicted])
    r2 = 1 - ((y_test - p) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum()
    assert doc["test_r2"] == pytest.approx(r2, rel=1e-4, abs=1e-5)
    assert doc["test_mae"] == pytest.approx(np.abs(y_test - p).mean(), rel=1e-4)
    evaluation = dlcli.evaluate(out, device="cpu").to_dict()  # the official test rows again
    assert evaluation["n"] == len(y_test) and evaluation["r2"] == pytest.approx(doc["test_r2"])
    assert len(boston["requests"]) == 1  # downloaded once, then from the cache
    # a classification loss on these numbers says what to use, in one line
    assert_input_error(
        cli("train", "mlp", "--data", "boston_housing", "--epochs", "1", "--out", tmp_path / "c"),
        "--loss mse",
    )

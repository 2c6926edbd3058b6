"""The standard datasets (`--data mnist|fashion-mnist|cifar10|cifar100|imdb`, corpus `text8`,
`dlcli data ...`), without the internet.

Tiny files in each real format (IDX with its magic numbers, CIFAR binary records in a .tar.gz
under the real member names, an aclImdb tree, text8.zip) are served by a local HTTP server on
127.0.0.1 through DLCLI_DATA_URL, with their checksums in a DLCLI_DATA_REGISTRY file. The
oracle is what the test wrote: the readers must give back exactly those arrays and texts.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import cli, run_dlcli

IDX = {  # name -> (train, test) image counts
    "mnist": (60, 20),
    "fashion-mnist": (40, 20),
}
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship"]
CIFAR10_NAMES += ["truck"]
TEXT8_WORDS = (
    "anarchism originated as a term of abuse first used against early working class "
    "radicals including the diggers of the english revolution "
).split()


# --- tiny files in the real formats --------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX: 0, 0, type 0x08 (unsigned byte), ndim; big-endian dims; the bytes (magic 0x0803 for
    images, 0x0801 for labels)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_images(rng, n: int, shape: tuple[int, ...], classes: int):
    x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    y = (np.arange(n) % classes).astype(np.uint8)
    # make the classes learnable: a bright band whose row depends on the class
    for i, label in enumerate(y):
        x[i, ..., int(label) * 2 % shape[-2], :] = 255
    return x, y


@pytest.fixture(scope="session")
def mirror(tmp_path_factory):
    """A mirror folder `<dataset>/<original file>`, the registry file for it, and the arrays
    and texts written (the oracle)."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("mirror")
    files: dict[str, bytes] = {}
    truth: dict[str, dict] = {}
    for name, (n_train, n_test) in IDX.items():
        x, y = make_images(rng, n_train + n_test, (28, 28), 10)
        split = {"train": slice(0, n_train), "t10k": slice(n_train, None)}
        for prefix, part in split.items():
            files[f"{name}/{prefix}-images-idx3-ubyte.gz"] = gz(idx_bytes(x[part]))
            files[f"{name}/{prefix}-labels-idx1-ubyte.gz"] = gz(idx_bytes(y[part]))
        truth[name] = {"x": x, "y": y, "n_train": n_train}
    # CIFAR-10: five training batches and a test batch of 1+3072-byte records
    x, y = make_images(rng, 5 * 6 + 10, (3, 32, 32), 10)
    records = np.concatenate([y[:, None], x.reshape(len(x), -1)], axis=1).astype(np.uint8)
    members = {
        f"cifar-10-batches-bin/data_batch_{i + 1}.bin": records[6 * i : 6 * (i + 1)].tobytes()
        for i in range(5)
    }
    members["cifar-10-batches-bin/test_batch.bin"] = records[30:].tobytes()
    members["cifar-10-batches-bin/batches.meta.txt"] = ("\n".join(CIFAR10_NAMES) + "\n\n").encode()
    members["cifar-10-batches-bin/readme.html"] = b"<html></html>"
    files["cifar10/cifar-10-binary.tar.gz"] = tar_gz(members)
    truth["cifar10"] = {"x": x, "y": y, "n_train": 30}
    # CIFAR-100: 2+3072-byte records (coarse, fine); the fine label is the class
    x, y = make_images(rng, 150 + 50, (3, 32, 32), 100)
    coarse = (y // 5).astype(np.uint8)
    records = np.concatenate([coarse[:, None], y[:, None], x.reshape(len(x), -1)], axis=1)
    fine_names = [f"fine{i:02d}" for i in range(100)]
    files["cifar100/cifar-100-binary.tar.gz"] = tar_gz(
        {
            "cifar-100-binary/train.bin": records[:150].astype(np.uint8).tobytes(),
            "cifar-100-binary/test.bin": records[150:].astype(np.uint8).tobytes(),
            "cifar-100-binary/fine_label_names.txt": "\n".join(fine_names).encode(),
            "cifar-100-binary/coarse_label_names.txt": b"\n".join(b"c%d" % i for i in range(20)),
        }
    )
    truth["cifar100"] = {"x": x, "y": y, "n_train": 150, "names": fine_names}
    # IMDB: aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt, plus files that are not read
    words = {"pos": "great wonderful superb loved", "neg": "awful boring terrible hated"}
    members = {"aclImdb/imdb.vocab": b"the\nmovie\n", "aclImdb/train/unsup/0_0.txt": b"unlabelled"}
    for split, n in (("train", 15), ("test", 6)):
        for label, rating in (("neg", 2), ("pos", 9)):
            for i in range(n):
                text = f"Review {i}: a {words[label].split()[i % 4]} film.<br /><br />Really "
                text += f"{words[label].split()[(i + 1) % 4]}."
                members[f"aclImdb/{split}/{label}/{i}_{rating}.txt"] = text.encode()
    files["imdb/aclImdb_v1.tar.gz"] = tar_gz(members)
    # text8: one line of words, no newline, in a zip whose one member is `text8`
    corpus = " " + " ".join(TEXT8_WORDS * 30)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("text8", corpus)
    files["text8/text8.zip"] = buffer.getvalue()
    truth["text8"] = {"words": len(corpus.split())}
    lines = []
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
        lines.append(f"{key} {hashlib.sha256(data).hexdigest()}")
    registry = root / "registry.txt"
    registry.write_text("# tiny test files\n" + "\n".join(lines) + "\n")
    return {"root": root, "registry": registry, "truth": truth}


# --- the local server ----------------------------------------------------------------------------


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    requests: list[str]
    modes: dict[str, str]  # path -> "corrupt" | "truncate"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.lstrip("/")
        self.server.requests.append(path)
        file = self.server.root / path
        if not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        mode = self.server.modes.get(path)
        if mode == "corrupt":
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        # truncate: the connection drops halfway through the announced length
        self.wfile.write(data[: len(data) // 2] if mode == "truncate" else data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(mirror, tmp_path, monkeypatch):
    """The mirror on 127.0.0.1, a fresh cache, and the env vars that point dlcli at both."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.root, srv.requests, srv.modes = mirror["root"], [], {}
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    cache = tmp_path / "cache"
    monkeypatch.setenv("DLCLI_DATA_URL", url)
    monkeypatch.setenv("DLCLI_DATA_REGISTRY", str(mirror["registry"]))
    monkeypatch.setenv("DLCLI_DATA_DIR", str(cache))
    srv.env = {"DLCLI_DATA_URL": url, "DLCLI_DATA_REGISTRY": str(mirror["registry"]),
               "DLCLI_DATA_DIR": str(cache)}  # fmt: skip
    srv.cache = cache
    yield srv
    srv.shutdown()
    srv.server_close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- the registry --------------------------------------------------------------------------------


def test_shipped_registry_has_a_checksum_for_every_file_but_text8(monkeypatch):
    from dlcli.datasets.registry import DATASETS, checksums

    monkeypatch.delenv("DLCLI_DATA_REGISTRY", raising=False)
    table = checksums()
    for name, info in DATASETS.items():
        for f in info.files:
            key = f"{name}/{f.name}"
            if name == "text8":
                assert key not in table
            else:
                assert len(table[key]) == 64 and int(table[key], 16) >= 0, key
    assert table["cifar10/cifar-10-binary.tar.gz"].startswith("c4a38c50")


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("mnist/train-images-idx3-ubyte.gz nothex", "64 hex digits"),
        ("cifar-10/cifar-10-binary.tar.gz " + "0" * 64, "unknown dataset 'cifar-10'"),
        ("cifar10/cifar-10-python.tar.gz " + "0" * 64, "no file 'cifar-10-python.tar.gz'"),
    ],
)
def test_a_bad_registry_line_is_an_input_error(tmp_path, monkeypatch, line, fragment):
    from tests.conftest import assert_input_error

    registry = tmp_path / "reg.txt"
    registry.write_text(f"# ok\n{line}\n")
    monkeypatch.setenv("DLCLI_DATA_REGISTRY", str(registry))
    monkeypatch.setenv("DLCLI_DATA_DIR", str(tmp_path / "cache"))
    assert_input_error(cli("data", "fetch", "mnist"), f"{registry}:2", fragment)


def test_registry_entries_replace_the_shipped_ones(tmp_path, monkeypatch):
    from dlcli.datasets.registry import checksums

    registry = tmp_path / "reg.txt"
    registry.write_text("cifar10/cifar-10-binary.tar.gz sha256:" + "AB" * 32 + "  # mine\n")
    monkeypatch.setenv("DLCLI_DATA_REGISTRY", str(registry))
    table = checksums()
    assert table["cifar10/cifar-10-binary.tar.gz"] == "ab" * 32
    assert table["mnist/t10k-labels-idx1-ubyte.gz"].startswith("f7ae60f9")  # the rest stay


# --- fetch, cache, list, path --------------------------------------------------------------------


def test_fetch_downloads_once_then_uses_the_cache(server):
    first = cli("data", "fetch", "mnist", "--json")
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)["datasets"][0]
    assert doc["name"] == "mnist" and doc["path"] == str(server.cache / "mnist")
    assert [f["downloaded"] for f in doc["files"]] == [True] * 4
    assert sorted(server.requests) == sorted(f"mnist/{f['file']}" for f in doc["files"])
    for f in doc["files"]:
        assert hashlib.sha256(Path(f["path"]).read_bytes()).hexdigest() == f["sha256"]
    again = cli("data", "fetch", "mnist", "--json")
    assert again.exit_code == 0, again.output
    assert [f["downloaded"] for f in json.loads(again.stdout)["datasets"][0]["files"]] == [
        False
    ] * 4
    assert len(server.requests) == 4  # no second request
    # training on it asks nothing of the server either
    from dlcli.datasets.api import load_images

    load_images("mnist")
    assert len(server.requests) == 4
    listing = json.loads(cli("data", "list", "--json").stdout)
    cached = {d["name"]: d["cached"] for d in listing["datasets"]}
    assert cached["mnist"] is True and cached["cifar10"] is False
    assert listing["data_dir"] == str(server.cache)
    path = cli("data", "path", "mnist", "-q")
    assert path.exit_code == 0 and path.stdout.strip() == str(server.cache / "mnist")


def test_a_damaged_cached_file_is_fetched_again(server):
    assert cli("data", "fetch", "cifar10", "-q").exit_code == 0
    archive = server.cache / "cifar10" / "cifar-10-binary.tar.gz"
    archive.write_bytes(archive.read_bytes()[:100])
    result = cli("data", "fetch", "cifar10", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["datasets"][0]["files"][0]["downloaded"] is True
    assert server.requests == ["cifar10/cifar-10-binary.tar.gz"] * 2


@pytest.mark.parametrize("mode", ["corrupt", "truncate"])
def test_a_bad_download_fails_and_caches_nothing(server, mode):
    server.modes["cifar10/cifar-10-binary.tar.gz"] = mode
    result = cli("data", "fetch", "cifar10", "-q")  # -q: no "downloading" line
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dlcli: error: "), result.stderr
    assert ("SHA-256" if mode == "corrupt" else "broke off") in lines[0]
    assert leftovers(server.cache) == []  # no file, no temporary file
    # the same through training: exit 1, and no run folder
    train = cli(
        "train", "resnet", "--data", "cifar10", "--epochs", "1", "--out", server.cache / "r"
    )
    assert train.exit_code == 1 and not (server.cache / "r").exists()


def test_offline_names_the_url_and_where_to_put_the_file(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DLCLI_DATA_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DLCLI_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DLCLI_DATA_REGISTRY", raising=False)
    result = cli("data", "fetch", "cifar10", "-q")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    url = f"http://127.0.0.1:{port}/cifar10/cifar-10-binary.tar.gz"
    assert url in lines[0]
    assert f"put it at {tmp_path / 'cache' / 'cifar10' / 'cifar-10-binary.tar.gz'}" in lines[0]
    assert leftovers(tmp_path / "cache") == []


def test_without_a_checksum_nothing_is_downloaded(server, tmp_path, monkeypatch):
    registry = tmp_path / "no-text8.txt"
    registry.write_text("mnist/t10k-labels-idx1-ubyte.gz " + "0" * 64 + "\n")
    monkeypatch.setenv("DLCLI_DATA_REGISTRY", str(registry))
    result = cli("data", "fetch", "text8")
    assert result.exit_code == 1
    assert "no SHA-256 is known for text8/text8.zip" in result.stderr
    assert "DLCLI_DATA_REGISTRY" in result.stderr
    assert server.requests == []


def test_an_interrupted_download_leaves_nothing(server):
    import dlcli

    def interrupt(event):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dlcli.fetch("imdb", on_progress=interrupt)
    assert leftovers(server.cache) == []


def test_progress_events_reach_the_callback(server, mirror):
    import dlcli

    events = []
    result = dlcli.fetch("imdb", on_progress=lambda e: events.append((e.file, e.done, e.total)))
    size = (mirror["root"] / "imdb" / "aclImdb_v1.tar.gz").stat().st_size
    assert events and events[-1] == ("aclImdb_v1.tar.gz", size, size)
    assert result.to_dict()["downloaded_bytes"] == size


def test_unknown_name_and_wrong_kind_are_input_errors(server):
    from tests.conftest import assert_input_error

    assert_input_error(cli("data", "fetch", "cifar1O"), "unknown dataset 'cifar1O'", "cifar10")
    assert_input_error(
        cli("train", "mlp", "--data", "imdb", "--epochs", "1"), "'imdb' is a text dataset",
        "train lstm",
    )  # fmt: skip
    assert server.requests == []


# --- the readers, against what was written -------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "cifar100"])
def test_image_readers_give_back_the_written_images(server, mirror, name):
    from dlcli.datasets.api import load_images

    truth = mirror["truth"][name]
    data = load_images(name)
    want = truth["x"] if truth["x"].ndim == 4 else truth["x"][:, None]
    assert data.x.dtype == np.uint8 and data.x.shape == want.shape
    np.testing.assert_array_equal(data.x, want)
    np.testing.assert_array_equal(data.y, truth["y"])
    assert data.n_train == truth["n_train"]
    assert data.test.tolist() == list(range(truth["n_train"], len(want)))
    expected_names = {
        "mnist": [str(i) for i in range(10)],
        "cifar10": CIFAR10_NAMES,
        "cifar100": truth.get("names"),
    }.get(name)
    if name == "fashion-mnist":
        assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    else:
        assert data.class_names == expected_names


def test_imdb_reader(server):
    from dlcli.datasets.api import load_texts

    data = load_texts("imdb")
    assert data.class_names == ["neg", "pos"]
    assert data.n_train == 30 and len(data.texts) == 42  # unsup and vocab files not read
    assert data.labels[:15] == ["neg"] * 15 and data.labels[15:30] == ["pos"] * 15
    assert data.texts[0] == "Review 0: a awful film.  Really boring."  # <br /> -> space
    assert data.texts[30].startswith("Review 0") and data.labels[30] == "neg"


def test_idx_reader_refuses_a_wrong_magic_number(tmp_path):
    from dlcli.datasets.idx import read_idx
    from dlcli.errors import InputError

    bad = tmp_path / "x-idx3-ubyte.gz"
    bad.write_bytes(gz(b"\x00\x00\x07\x03" + b"\x00" * 12))
    with pytest.raises(InputError, match="not an IDX file"):
        read_idx(bad)
    short = tmp_path / "y-idx1-ubyte.gz"
    short.write_bytes(gz(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x01" * 9))
    with pytest.raises(InputError, match="announces 10 values"):
        read_idx(short)


# --- the official split --------------------------------------------------------------------------


def test_split_keeps_the_official_test_set():
    from dlcli.training.data import split_indices

    y = np.arange(100) % 4
    fixed = np.arange(80, 100)
    split = split_indices(y, 0.2, 0.25, seed=3, fixed_test=fixed)
    assert split.test.tolist() == fixed.tolist()
    assert sorted([*split.train, *split.val]) == list(range(80))  # disjoint, covering the rest
    assert np.bincount(y[split.val]).tolist() == [5, 5, 5, 5]  # 25% of each class, stratified
    again = split_indices(y, 0.5, 0.25, seed=3, fixed_test=fixed)  # test_fraction is not used
    assert again.val.tolist() == split.val.tolist()
    # without it, nothing changes
    plain = split_indices(y, 0.2, 0.25, seed=3)
    assert len(plain.test) == 20 and not set(plain.test) >= set(fixed)


# --- training on them, then evaluate / predict without naming the data ---------------------------


def _doc(result):  # evaluate/predict results: dicts here until their result classes land
    return result if isinstance(result, dict) else result.to_dict()


def test_train_on_mnist_keeps_the_official_test_split_and_evaluate_reproduces_it(
    server, mirror, tmp_path
):
    from PIL import Image

    import dlcli

    out = tmp_path / "run"
    result = cli(
        "train", "mlp", "--data", "mnist", "--epochs", "1", "--threads", "1", "--hidden", "16",
        "--json", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["data"] == "mnist"
    assert doc["n_test"] == 20  # the official test set, not 20 % of 80
    assert doc["n_val"] == 10 and doc["n_train"] == 50  # val carved from the 60 training images
    assert doc["classes"] == [str(i) for i in range(10)]
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["source"] == "mnist" and config["image_mode"] == "L"
    requests = len(server.requests)
    evaluation = _doc(dlcli.evaluate(out, device="cpu"))
    assert evaluation["n"] == 20
    assert evaluation["accuracy"] == doc["test_accuracy"]
    assert len(server.requests) == requests  # from the cache
    # predict a test image saved as a PNG: the image is read as training read it
    image = tmp_path / "digit.png"
    Image.fromarray(mirror["truth"]["mnist"]["x"][65]).save(image)
    prediction = _doc(dlcli.predict(out, [str(image)], device="cpu"))["predictions"][0]
    assert prediction["class"] in doc["classes"]


def test_train_resnet_on_cifar10(server, tmp_path):
    result = cli(
        "train", "resnet", "--data", "cifar10", "--depth", "8", "--width", "4", "--epochs", "1",
        "--threads", "1", "--val-fraction", "0", "--json", "--out", tmp_path / "run",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["n_train"], doc["n_val"], doc["n_test"]) == (30, 0, 10)
    assert doc["classes"] == CIFAR10_NAMES
    spec = json.loads((tmp_path / "run" / "config.json").read_text())
    assert spec["sample_shape"] == [3, 32, 32] and spec["image_mode"] == "RGB"


def test_image_size_is_refused_for_a_standard_dataset(server):
    from tests.conftest import assert_input_error

    result = cli("train", "cnn", "--data", "mnist", "--image-size", "32", "--epochs", "1")
    assert_input_error(result, "mnist images are 28x28")


def test_train_lstm_on_imdb_and_evaluate_the_run(server, tmp_path):
    import dlcli

    out = tmp_path / "run"
    result = cli(
        "train", "lstm", "--data", "imdb", "--epochs", "1", "--threads", "1", "--hidden-size",
        "8", "--embedding-dim", "8", "--max-length", "20", "--json", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n_test"] == 12 and doc["n_train"] + doc["n_val"] == 30
    assert doc["classes"] == ["neg", "pos"]
    assert doc["data_info"]["vocab_size"] > 2
    evaluation = _doc(dlcli.evaluate(out, device="cpu"))
    assert evaluation["n"] == 12 and evaluation["accuracy"] == doc["test_accuracy"]
    lines = tmp_path / "reviews.txt"
    lines.write_text("a superb film, loved it\nboring and awful\n")
    predictions = _doc(dlcli.predict(out, [str(lines)], device="cpu"))["predictions"]
    assert [p["class"] in ("neg", "pos") for p in predictions] == [True, True]


def test_word2vec_reads_text8_by_name(server, mirror, tmp_path):
    result = cli(
        "word2vec", "skipgram", "text8", "--size", "8", "--epochs", "1", "--min-count", "1",
        "--workers", "1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["corpus"] == "text8"
    assert doc["corpus_words"] == mirror["truth"]["text8"]["words"]
    assert doc["vocab_size"] == len(set(TEXT8_WORDS))
    corpus = server.cache / "text8" / "text8"
    assert corpus.is_file()
    fetched = json.loads(cli("data", "fetch", "text8", "--json").stdout)["datasets"][0]
    assert fetched["corpus"] == str(corpus)
    assert server.requests == ["text8/text8.zip"]


def test_data_commands_through_a_real_process(server):
    fetched = run_dlcli("data", "fetch", "fashion-mnist", "-q", env=server.env)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.strip() == str(server.cache / "fashion-mnist")
    assert fetched.stderr == ""  # -q: no progress either
    listing = run_dlcli("data", "list", env=server.env)
    assert listing.returncode == 0 and "fashion-mnist" in listing.stdout


def test_import_dlcli_and_data_list_stay_light():
    code = (
        "import sys, dlcli; dlcli.list_datasets(); dlcli.dataset_path('cifar10'); "
        "print(sorted(m for m in ('torch', 'numpy', 'requests', 'pooch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the learning-rate schedule (He et al.'s CIFAR recipe: /10 at 32k and 48k steps) ----------


@pytest.mark.parametrize("schedule", ["step:3,7", "cosine"])
def test_lr_schedule_matches_torchs_schedulers(schedule):
    """Oracle: torch's MultiStepLR (gamma 0.1) and CosineAnnealingLR (to 0) over 10 steps."""
    import torch

    from dlcli.training.config import TrainConfig

    cfg = TrainConfig(optimizer="sgd", lr=0.1, lr_schedule=schedule)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    if schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.0)
    else:
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 7], gamma=0.1)
    for step in range(10):
        assert cfg.lr_at(step, 10) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        sched.step()


def test_lr_schedule_trains_and_a_bad_one_is_refused(tmp_path):
    from tests.conftest import assert_input_error

    assert_input_error(cli("train", "mlp", "--lr-schedule", "step:a"), "--lr-schedule 'step:a'")
    result = cli(
        "train", "mlp", "--epochs", "2", "--threads", "1", "--hidden", "16",
        "--lr-schedule", "step:30", "--json", "--out", tmp_path / "run",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["lr_schedule"] == "step:30"
    # the schedule is a function of the step: one epoch, then --resume, gives the same weights
    half = tmp_path / "half"
    args = ("--threads", "1", "--hidden", "16", "--lr-schedule", "step:30", "-q")
    assert cli("train", "mlp", "--epochs", "1", *args, "--out", half).exit_code == 0
    assert cli("train", "mlp", "--resume", half, "--epochs", "2", "-q").exit_code == 0
    weights = [(p / "model.safetensors").read_bytes() for p in (tmp_path / "run", half)]
    assert weights[0] == weights[1]

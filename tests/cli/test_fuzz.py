"""Property-based: random argument lists at every command and random bytes at every file reader.

The property: dlcli succeeds, or ends with exit status 1 or 2 and exactly one `dlcli: error:`
line on stderr (warnings before it allowed), never a traceback and never the generic
"(set DLCLI_DEBUG=1 for a traceback)" line, which marks an exception nobody anticipated: a bug.
A few dozen examples per command keep the file fast, the same ones every run (the conftest's
derandomised "dev" and "ci" profiles); `HYPOTHESIS_PROFILE=explore` draws many new ones. Every
failure exploring found is pinned below as an `@example`, with its fix.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import cli
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

# the number of examples and their randomness come from the loaded profile (conftest.py)
FUZZ = settings(
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def assert_clean(result) -> None:
    """Success, or exit 1/2 with one error line; never a traceback or the generic line."""
    err = result.stderr
    assert "Traceback" not in err, err
    assert "DLCLI_DEBUG" not in err, err
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    if result.exit_code == 0:
        return
    assert result.exit_code in (1, 2), (result.exit_code, err)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("dlcli: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    # before it: progress (epochs, a sweep's runs) and dlcli's warnings, never a library's
    raw = re.compile(r"Warning\b|Error\b|Traceback|^\s+File ")
    assert not [line for line in lines[:-1] if raw.search(line) and not line.startswith("dlcli:")]


# --- values --------------------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.integers(-3, 40).map(str),
    st.sampled_from(["0", "-1", "1e308", "inf", "-inf", "nan", str(10**30), "2**63", "0.5", ""]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
WORDS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=12
)
VALUES = st.one_of(NUMBERS, WORDS)


def options(names: list[str], values=VALUES, flags: tuple[str, ...] = ()):
    """Up to four `--name value` pairs (or bare flags) in any order."""
    pair = st.tuples(st.sampled_from(names), values).map(list)
    flag = st.sampled_from(list(flags) or ["--json"]).map(lambda f: [f])
    return st.lists(st.one_of(pair, flag), max_size=4).map(lambda ps: [a for p in ps for a in p])


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path, monkeypatch):
    """Whatever a random argument list writes (compare --plot 1, a run folder) lands here."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good inputs the random arguments can point at."""
    root = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(0)
    (root / "ok.csv").write_text(
        "a,b,label\n" + "".join(f"{rng.normal()},{rng.normal()},{i % 2}\n" for i in range(30))
    )
    np.savez(root / "ok.npz", x=rng.normal(size=(30, 3)).astype(np.float32), y=np.arange(30) % 2)
    (root / "vec.txt").write_text("4 3\nking 1 0 0\nqueen 0 1 0\nman 1 0.1 0\nwoman 0 1 0.1\n")
    (root / "analogies.txt").write_text(": s\nman king woman queen\n")
    (root / "pairs.tsv").write_text("king\tqueen\t5\nman\twoman\t6\nking\tman\t2\n")
    (root / "texts.csv").write_text(
        "text,label\n"
        + "".join(
            f"{'good fine' if i % 2 else 'bad awful'} {i},{i % 2}\n" for i in range(30)
        )  # fmt: skip
    )
    (root / "dir").mkdir()
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzzrun") / "run"
    result = cli("train", "mlp", "--data", "spiral:n=30", "--epochs", "2", "--threads", "1",
                 "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def paths(files: Path):
    names = ["ok.csv", "ok.npz", "vec.txt", "analogies.txt", "pairs.tsv", "texts.csv", "dir",
             "missing.csv", "missing.npz"]  # fmt: skip
    return st.sampled_from([str(files / n) for n in names])


# --- every command, random arguments --------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_featsize_and_receptive_field(data):
    size = data.draw(st.one_of(NUMBERS, st.sampled_from(["28", "28x28", "8x8x8", "3 2", "-"])))
    spec = st.sampled_from(["conv3", "conv3p1-8,maxpool2", "deconv4s2p1", "conv0", "bn", "x",
                            f"conv{10**20}", "maxpool3s2ceil", "conv3d99"])  # fmt: skip
    values = st.one_of(VALUES, spec, st.sampled_from(["resnet18", "vgg16", "nope"]))
    fs = data.draw(
        options(["-k", "-s", "-p", "-d", "--layers", "--arch"], values, ("--json", "-q"))
    )
    assert_clean(cli("featsize", size, *fs))
    rf = data.draw(options(["--layers", "--arch", "--size"], values, ("--json",)))
    assert_clean(cli("receptive-field", *rf))


TRAIN_OPTIONS = ["--hidden", "--batch-size", "--lr", "--optimizer", "--loss", "--seed",
                 "--test-fraction", "--val-fraction", "--dropout", "--activation", "--patience",
                 "--momentum", "--weight-decay", "--target", "--image-size", "--lr-schedule",
                 "--init", "--data"]  # fmt: skip


@FUZZ
@given(data=st.data())
def test_train_mlp(data, files, tmp_path):
    data_values = st.one_of(
        paths(files), st.sampled_from(["digits", "spiral", "spiral:n=20,classes=2", "spiral:n=x",
                                       "spiral:noise=nan", f"spiral:n={10**30}", "spiral:q=1"])
    )  # fmt: skip
    values = st.one_of(VALUES, data_values)
    args = data.draw(options(TRAIN_OPTIONS, values, ("--json", "--no-standardize")))
    if "--data" not in args:
        args += ["--data", "spiral:n=20"]
    out = Path(tempfile.mkdtemp(dir=tmp_path)) / "run"
    assert_clean(cli("train", "mlp", "--epochs", "1", "--threads", "1", "--out", out, *args))


@FUZZ
@given(data=st.data())
def test_evaluate_and_predict(data, files, run):
    values = st.one_of(VALUES, paths(files))
    args = data.draw(options(["--data", "--target", "--device"], values, ("--json",)))
    assert_clean(cli("evaluate", run, *args))
    inputs = data.draw(st.lists(st.one_of(paths(files), WORDS), min_size=1, max_size=3))
    more = data.draw(options(["-k", "--top", "--device"], values, ("--json", "-q")))
    assert_clean(cli("predict", run, *inputs, *more))


@FUZZ
@given(data=st.data())
def test_word2vec_queries(data, files):
    vec = str(files / "vec.txt")
    words = st.one_of(st.sampled_from(["king", "queen", "man", "woman"]), WORDS)
    n = data.draw(options(["-n"], NUMBERS, ("--json",)))
    assert_clean(cli("word2vec", "similar", vec, data.draw(words), *n))
    a, b, c = data.draw(st.tuples(words, words, words))
    assert_clean(cli("word2vec", "analogy", vec, a, b, c, *n))
    values = st.one_of(VALUES, paths(files))
    args = data.draw(options(["--analogies", "--pairs", "--restrict-vocab"], values, ("--json",)))
    small = ["--analogies", files / "analogies.txt", "--pairs", files / "pairs.tsv"]  # not the
    assert_clean(cli("word2vec", "evaluate", vec, *small, *args))  # 19,544 default questions


COMPARE_INPUTS = ["RUN", "ok.csv", "ok.npz", "vec.txt", "dir", "missing.csv"]  # RUN: the run


@FUZZ
@given(
    args=options(["--sort", "--plot"], VALUES, ("--json", "-q")),
    inputs=st.lists(st.sampled_from(COMPARE_INPUTS), min_size=1, max_size=3),
)
# found by exploring (HYPOTHESIS_PROFILE=explore): a raw ValueError for '', a traceback for a
# folder, a missing folder or an unwritable place; each is now one line and exit 2
@example(args=["--plot", ""], inputs=["RUN"])
@example(args=["--plot", "."], inputs=["RUN"])
@example(args=["--plot", "0"], inputs=["RUN"])
@example(args=["--plot", "nope/x.png"], inputs=["RUN"])
@example(args=["--plot", "/proc/x.png"], inputs=["RUN"])
@example(args=["--plot", "RUN/config.json"], inputs=["RUN"])
def test_data_list_and_compare(args, inputs, files, run, tmp_path):
    from conftest import CliRunner

    from dlcli.cli.app import app

    env = {"DLCLI_DATA_DIR": str(tmp_path / "cache")}
    assert_clean(CliRunner().invoke(app, ["data", "list", *args[:2]], env=env))
    runs = [str(run) if name == "RUN" else str(files / name) for name in inputs]
    args = [a.replace("RUN", str(run)) for a in args]
    before = _tree(run)
    assert_clean(cli("compare", *runs, *args))
    assert _tree(run) == before  # compare never writes into a run folder


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# --- every file reader, random bytes --------------------------------------------------------------

JUNK = st.binary(max_size=300)


def _npz_bytes(draw) -> bytes:
    """An .npz of random arrays (dtype, shape, names), or a zip with junk inside."""
    buf = io.BytesIO()
    if draw(st.booleans()):
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(draw(st.sampled_from(["x.npy", "y.npy", "z.npy"])), draw(JUNK))
        return buf.getvalue()
    dtype = draw(st.sampled_from(["f4", "f8", "i8", "u1", "b1", "U3", "c8", "f2"]))
    arrays = {}
    for name in draw(st.lists(st.sampled_from(["x", "y", "z"]), max_size=3, unique=True)):
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=5)))
        arrays[name] = np.zeros(shape, dtype=dtype) + (1 if dtype != "U3" else "1")
    np.savez(buf, **arrays)
    return buf.getvalue()


@FUZZ
@given(data=st.data())
def test_data_files(data, tmp_path):
    """CSV (plain and gzip), .npz and text CSV, each with a plausible start and random bytes."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    prefix = data.draw(st.sampled_from([b"", b"a,label\n", b"a,b,label\n1,2,x\n", b"text,label\n"]))
    body = prefix + data.draw(JUNK)
    kind = data.draw(st.sampled_from(["csv", "csv.gz", "npz", "text"]))
    if kind == "npz":
        body = _npz_bytes(data.draw)
    path = folder / f"f.{'csv' if kind == 'text' else kind}"
    path.write_bytes(gzip.compress(body) if kind == "csv.gz" else body)
    model = "lstm" if kind == "text" else "mlp"
    args = ("--epochs", "1", "--threads", "1", "--test-fraction", "0", "--val-fraction", "0")
    result = cli("train", model, "--data", path, *args, "--out", folder / "run")
    assert_clean(result)


@FUZZ
@given(data=st.data())
def test_image_files(data, tmp_path, run):
    from PIL import Image

    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    for name in ("a", "b"):
        (folder / name).mkdir()
        for i in range(2):
            Image.new("L", (6, 6), 60 * i).save(folder / name / f"{i}.png")
    good = io.BytesIO()
    mode = data.draw(st.sampled_from(["L", "RGB", "RGBA", "P", "1", "I", "F"]))
    try:
        Image.new(mode, (5, 5)).save(
            good, format=data.draw(st.sampled_from(["PNG", "GIF", "BMP", "TIFF"]))
        )
    except OSError:  # a mode the format cannot hold
        assume(False)
    raw = good.getvalue()
    cut = data.draw(st.integers(0, len(raw)))
    body = data.draw(st.sampled_from([raw, raw[:cut], raw[:cut] + data.draw(JUNK)]))
    suffix = data.draw(st.sampled_from([".png", ".jpg", ".gif", ".tif", ".bmp", ".webp"]))
    (folder / "a" / f"odd{suffix}").write_bytes(body)
    args = ("--epochs", "1", "--threads", "1", "--test-fraction", "0", "--val-fraction", "0")
    assert_clean(cli("train", "cnn", "--data", folder, *args, "--out", folder / "run"))
    assert_clean(cli("predict", run, folder / "a" / f"odd{suffix}"))


@FUZZ
@given(data=st.data())
def test_vectors_and_evaluation_files(data, files, tmp_path):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    prefix = data.draw(st.sampled_from([b"", b"2 3\n", b"2 3\nking ", b"1 1\na 0.5\n"]))
    suffix = data.draw(st.sampled_from([".txt", ".bin", ".vec", ".txt.gz"]))
    body = prefix + data.draw(JUNK)
    vec = folder / f"v{suffix}"
    vec.write_bytes(gzip.compress(body) if suffix.endswith(".gz") else body)
    assert_clean(cli("word2vec", "similar", vec, "king"))
    junk = folder / "junk.txt"
    start = data.draw(st.sampled_from([b"", b": s\n", b"king\tqueen\t", b"man king woman "]))
    junk.write_bytes(start + data.draw(JUNK))
    flag = data.draw(st.sampled_from(["--analogies", "--pairs"]))
    assert_clean(cli("word2vec", "evaluate", files / "vec.txt", flag, junk))


CONFIG_FIELDS = ["input_shape", "sample_shape", "threads", "class_names", "pixel_max",
                 "standardize", "standardize.std", "model_config.hidden", "model_config.dropout",
                 "train.epochs", "train.lr", "data.test_fraction"]  # fmt: skip


@FUZZ
@given(data=st.data())
def test_run_folder_files(data, run, tmp_path):
    """config.json (junk, or JSON with a field changed), the weights and the checkpoint."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path)) / "run"
    shutil.copytree(run, folder)
    target = data.draw(st.sampled_from(["config.json", "model.safetensors",
                                        "checkpoint.safetensors"]))  # fmt: skip
    if target == "config.json" and data.draw(st.booleans()):
        config = json.loads((run / "config.json").read_text())
        # the sizes, and every field's type and range (config.json is validated when read)
        key = data.draw(st.sampled_from(CONFIG_FIELDS))
        value = data.draw(st.one_of(st.none(), st.integers(-(10**20), 10**20), WORDS,
                                    st.booleans(), st.floats(), st.lists(st.floats(), max_size=3),
                                    st.lists(st.integers(-5, 10**13), max_size=3)))  # fmt: skip
        *parents, last = key.split(".")
        section = config
        for name in parents:
            section = section[name]
        section[last] = value
        (folder / target).write_text(json.dumps(config))  # NaN, Infinity as Python writes them
    else:
        (folder / target).write_bytes(data.draw(JUNK))
    assert_clean(cli("evaluate", folder))
    assert_clean(cli("train", "mlp", "--resume", folder, "--epochs", "3", "--threads", "1"))

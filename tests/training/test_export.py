"""The model out of the run folder: `dlcli.load_model`, `dlcli export` (ONNX, TorchScript, pt2).

The oracle is `dlcli predict` itself: every family's run is exported, the file is run on the
run's own test split (raw samples, as predict reads them) by onnxruntime / torch.jit /
torch.export, and the probabilities must match predict's to 1e-4 with the same classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

import dlcli
from tests.conftest import ROOT, assert_input_error, run_dlcli

TOLERANCE = 1e-4

# family -> (data, knobs): small runs, a couple of epochs (the numbers need not be good)
RUNS = {
    "mlp": ("digits", {"hidden": "16", "epochs": 2}),
    "cnn": ("PIXELS", {"layers": "conv3p1-4,maxpool2", "hidden": "16", "epochs": 2}),
    "resnet": ("digits", {"depth": 8, "width": 4, "epochs": 1}),
    "lstm": ("digits", {"hidden_size": 8, "epochs": 1}),
    "text": (str(ROOT / "sample_data/reviews.csv"), {"hidden_size": 8, "num_layers": 2}),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """family -> run folder, trained on first use (the cnn on uint8 pixels from an .npz)."""
    folder = tmp_path_factory.mktemp("export-runs")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            data, knobs = RUNS[name]
            if data == "PIXELS":  # digits as uint8 images: the exported input is uint8
                from dlcli.training.data import load_digits

                digits = load_digits()
                data = str(folder / "pixels.npz")
                pixels = (digits.x[:, 0] * 15).astype(np.uint8)  # (N, 8, 8), 0..240
                np.savez(data, x=pixels, y=digits.y)
            model = "lstm" if name == "text" else name
            knobs = {"epochs": 1, **knobs, "threads": 1, "seed": 0}
            dlcli.train(model, data, out=folder / name, **knobs)
            made[name] = folder / name
        return made[name]

    return get


def raw_test_split(run: Path, tmp_path: Path) -> tuple[object, list[str], np.ndarray]:
    """(the model's input for the run's test split, predict's INPUT for the same samples, the
    run's own encoding): raw samples as stored, or for text the texts and their token ids."""
    from dlcli.training.data import split_indices
    from dlcli.training.families import load_family_data
    from dlcli.training.runs.spec import read_spec

    spec, _ = read_spec(run)
    dataset = load_family_data(spec.model, spec.model_config, spec.data, spec.train.seed)
    test = split_indices(
        dataset.y, spec.data.test_fraction, spec.data.val_fraction, spec.train.seed
    ).test
    assert len(test) > 10
    if spec.model_config.__dict__.get("vocab"):
        from dlcli.training.data.text import read_text_csv

        texts = [read_text_csv(spec.data.source).texts[i] for i in test.tolist()]
        (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n")
        return texts, [str(tmp_path / "texts.txt")], dataset.x[test]
    x = np.ascontiguousarray(dataset.x[test])
    np.savez(tmp_path / "test.npz", x=x)
    return x, [str(tmp_path / "test.npz")], x


def predicted(run: Path, inputs: list[str]) -> tuple[np.ndarray, list[str]]:
    """`dlcli predict`'s probabilities (N, C) in class order, and its classes."""
    from dlcli.training.runs.spec import read_spec

    classes = read_spec(run)[0].class_names
    result = dlcli.predict(run, inputs, top=len(classes), device="cpu").to_dict()
    probs = np.zeros((len(result["predictions"]), len(classes)), np.float32)
    for row, p in enumerate(result["predictions"]):
        for entry in p["top"]:
            probs[row, classes.index(entry["class"])] = entry["probability"]
    return probs, [p["class"] for p in result["predictions"]]


def model_input(run: Path, raw) -> np.ndarray:
    """Raw samples as they are; texts through load_model's encoder (predict's encoding)."""
    if isinstance(raw, list):
        return dlcli.load_model(run).encode(raw).numpy()
    return raw


def onnx_probabilities(path: Path, x: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def assert_same(probs: np.ndarray, classes: list[str], want: np.ndarray, names: list[str]):
    assert probs.shape == want.shape
    assert float(np.abs(probs - want).max()) <= TOLERANCE
    assert [classes[i] for i in probs.argmax(1)] == names


@pytest.mark.parametrize("family", ["mlp", "cnn", "resnet", "lstm", "text"])
def test_onnx_matches_predict_on_the_test_split(family, runs, invoke, tmp_path):
    """onnxruntime on the run's test split gives predict's probabilities (<= 1e-4) and classes;
    the metadata carries the class names and the dlcli version; the batch is dynamic."""
    run = runs(family)
    out = tmp_path / "model.onnx"
    result = invoke("export", str(run), "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["out"] == str(out) and document["bytes"] == out.stat().st_size
    assert document["check"]["max_difference"] <= TOLERANCE
    raw, inputs, encoded = raw_test_split(run, tmp_path)
    want, names = predicted(run, inputs)
    x = model_input(run, raw)
    np.testing.assert_array_equal(x, encoded)  # text: load_model encodes as the run did
    proto = onnx.load(str(out))
    meta = {p.key: p.value for p in proto.metadata_props}
    classes = json.loads(meta["class_names"])
    assert classes == document["classes"] and meta["dlcli_version"] == dlcli.__version__
    assert_same(onnx_probabilities(out, x), classes, want, names)
    assert_same(onnx_probabilities(out, x[:1]), classes, want[:1], names[:1])  # any batch
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"
    if family == "text":
        assert json.loads(meta["vocabulary"]) == dlcli.load_model(run).vocabulary
        assert document["input"]["name"] == "ids" and document["input"]["dtype"] == "int64"
        # any length: cut to the longest text, or padded wider, the same probabilities
        longest = int((x != 0).sum(1).max())
        assert_same(onnx_probabilities(out, x[:, :longest]), classes, want, names)
        wider = np.pad(x, ((0, 0), (0, 7)))
        assert_same(onnx_probabilities(out, wider), classes, want, names)
    elif family == "cnn":
        assert document["input"]["dtype"] == "uint8" and x.dtype == np.uint8


@pytest.mark.parametrize(
    ("family", "fmt"),
    [
        ("mlp", "torchscript"),
        ("cnn", "torchscript"),
        ("resnet", "torchscript"),
        ("lstm", "torchscript"),
        ("text", "torchscript"),
        ("mlp", "pt2"),
        ("cnn", "pt2"),
        ("lstm", "pt2"),
    ],
)
# torch 2.13 deprecates TorchScript (a DeprecationWarning on torch.jit.load): the user's side of
# a format dlcli still writes for libtorch users, so that one warning is expected here
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_torchscript_and_pt2_match_predict(family, fmt, runs, tmp_path):
    """The TorchScript and torch.export files, loaded as a user would, give predict's numbers;
    their metadata (dlcli.json) names the classes and the dlcli version."""
    run = runs(family)
    out = tmp_path / f"model.{fmt}"
    result = dlcli.export(run, fmt, out)
    assert result.format == fmt and Path(result.out) == out
    raw, inputs, _ = raw_test_split(run, tmp_path)
    want, names = predicted(run, inputs)
    x = torch.from_numpy(model_input(run, raw))
    files = {"dlcli.json": ""}
    if fmt == "torchscript":
        loaded = torch.jit.load(str(out), _extra_files=files)
    else:
        loaded = torch.export.load(str(out), extra_files=files).module()
    meta = json.loads(files["dlcli.json"])
    classes = json.loads(meta["class_names"])
    assert meta["dlcli_version"] == dlcli.__version__ and classes == result.classes
    with torch.no_grad():
        assert_same(loaded(x).numpy(), classes, want, names)
        assert_same(loaded(x[:3]).numpy(), classes, want[:3], names[:3])


def test_load_model_is_predict_in_plain_pytorch(runs, tmp_path):
    """load_model: an nn.Module in eval mode whose forward on raw inputs is predict's
    probabilities; it says what it takes."""
    run = runs("cnn")
    model = dlcli.load_model(run)
    assert isinstance(model, torch.nn.Module) and not model.training
    assert model.input_dtype == torch.uint8 and model.sample_shape == (1, 8, 8)
    raw, inputs, _ = raw_test_split(run, tmp_path)
    want, names = predicted(run, inputs)
    with torch.no_grad():
        probs = model(torch.from_numpy(raw)).numpy()
    assert_same(probs, model.class_names, want, names)
    assert "cnn: uint8 (B, 1x8x8) -> probabilities of 10 classes" in repr(model)
    with pytest.raises(dlcli.InputError, match="does not read text"):
        model.encode(["a text"])


def test_unpacked_lstm_equals_the_packed_one():
    """The exportable text LSTM (no packing) gives the packed model's scores for every cell,
    depth and direction, on rows of every length including all padding."""
    from dlcli.training.families.lstm import RecurrentConfig, build_recurrent

    torch.manual_seed(0)
    ids = torch.randint(2, 30, (6, 9))
    for row, length in enumerate([9, 1, 4, 7, 2, 0]):
        ids[row, length:] = 0
    for cell in ("lstm", "gru", "rnn"):
        for layers, bidirectional in ((1, True), (2, True), (2, False)):
            config = RecurrentConfig(
                cell=cell, hidden_size=5, num_layers=layers, bidirectional=bidirectional
            )
            config.vocab = tuple(f"w{i}" for i in range(30))
            model = build_recurrent(config, (9,), 3).eval()
            with torch.no_grad():
                want = model(ids)
                got = model.exportable()(ids)
            torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


# --- errors: one line each, nothing written --------------------------------------------------


def test_export_errors_are_one_line(runs, invoke, tmp_path, monkeypatch):
    run = runs("mlp")
    assert_input_error(invoke("export", str(tmp_path / "nope")), "not found")
    assert_input_error(invoke("export", str(run), "-o", str(tmp_path)), "is a folder")
    missing = tmp_path / "no" / "m.onnx"
    assert_input_error(invoke("export", str(run), "-o", str(missing)), "does not exist")
    assert_input_error(invoke("export", str(run), "-o", str(run / "m.onnx")), "outside")
    result = invoke("export", str(run), "--format", "keras")
    assert result.exit_code == 2 and "keras" in result.stderr
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)  # not installed
    line = assert_input_error(invoke("export", str(run), "-o", str(tmp_path / "m.onnx")))
    assert "'onnx'" in line and "pip install 'dlcli[export]'" in line
    assert list(tmp_path.iterdir()) == []


def test_unfinished_run_and_failed_exporter(runs, invoke, tmp_path, monkeypatch):
    """A run with no trained model, and an exporter that fails: one line, exit 2 / 1, no file,
    no temporary file left."""
    from dlcli.training.runs import spec as spec_module

    run = runs("mlp")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    spec, _ = spec_module.read_spec(run)
    spec.save(unfinished, "running")  # config.json alone: a run killed before its first epoch
    assert_input_error(invoke("export", str(unfinished)), "no trained model")

    def broken(*args, **kwargs):
        raise RuntimeError("Exporting the operator 'aten::thing' is not supported\nmore lines")

    monkeypatch.setattr(torch.onnx, "export", broken)
    out = tmp_path / "m.onnx"
    result = invoke("export", str(run), "-o", str(out))
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        "dlcli: error: torch.onnx cannot export this mlp model: Exporting the operator "
        "'aten::thing' is not supported"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unfinished"]


def test_export_as_a_process_default_name(runs, tmp_path):
    """A real process: the default file is RUN_DIR + .pt, the line names it; -q prints the path."""
    run = runs("lstm")
    proc = run_dlcli("export", str(run), "--format", "torchscript")
    assert proc.returncode == 0, proc.stderr
    out = Path(str(run) + ".pt")
    assert out.is_file() and proc.stdout.startswith(f"{out}: lstm as torchscript")
    assert "Traceback" not in proc.stderr and proc.stderr == ""
    out.unlink()


# --- the README's examples, as written --------------------------------------------------------


def _readme_block(marker: str) -> str:
    import re

    text = (ROOT / "README.md").read_text()
    block = rf"<!-- {marker} -->\n(?:<!-- example: .*? -->\n)?```python\n(.*?)```"
    match = re.search(block, text, re.S)
    assert match, f"README lost its {marker} example"
    return match.group(1)


def _run_python(code: str, cwd: Path) -> list[str]:
    import subprocess
    import sys

    script = cwd / "example.py"
    script.write_text(code)
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=cwd, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_readme_examples_run_as_written(tmp_path):
    """The README's load_model block, its export commands and its onnxruntime block, in a fresh
    folder: both blocks print predict's classes and probabilities."""
    from tests.conftest import readme_commands

    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    printed = _run_python(_readme_block("python-load-model"), tmp_path)
    result = dlcli.predict(tmp_path / "runs/flowers-api", tmp_path / "sample_data/new-flowers.csv")
    want = [f"{p['class']} {p['probability']:.4f}" for p in result.to_dict()["predictions"]]
    assert printed == want and len(want) > 3
    commands = readme_commands("export")
    assert any(c.startswith("dlcli export") for c in commands)
    for command in commands:
        proc = run_dlcli(*command.split()[1:], cwd=tmp_path)
        assert proc.returncode == 0, (command, proc.stderr)
        if "--json" in command:
            assert json.loads(proc.stdout)["out"] == command.split("-o ")[1].split()[0]
    assert (tmp_path / "runs/digits-tb/tensorboard/train").is_dir()
    assert _run_python(_readme_block("python-onnx"), tmp_path) == want


def test_the_names_stay_lazy():
    """`dlcli.load_model` and `dlcli.export` are there without importing torch (import dlcli
    stays light; torch comes when they are called)."""
    import subprocess
    import sys

    code = (
        "import sys, dlcli; f = dlcli.load_model, dlcli.export; "
        "print('load_model' in dir(dlcli), 'export' in dlcli.__all__, 'torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.split() == ["True", "True", "False"], proc.stderr

"""The model out of the run folder: `load_model(run)` and `export(run, format, out)`.

    load_model(run)            -> `portable.RawInputModel`, in eval mode: raw inputs (what
                                  `dlcli predict` reads) in, class probabilities out
    export(run, "onnx")        -> an ONNX file (opset 18) for onnxruntime and friends
    export(run, "torchscript") -> a TorchScript archive (torch.jit.load, also from C++)
    export(run, "pt2")         -> a `torch.export` program (torch.export.load)

Every exported file takes raw samples with a dynamic batch size (text: token ids of any length,
padded with 0 at the end; the vocabulary and the tokeniser's rule travel in its metadata) and
returns the probabilities `dlcli predict` prints, with the class names and the dlcli version in
its metadata. Before the file is written atomically (`dlcli.files.atomic_write`), the export is
run on a check batch of another size than the one traced and compared with the PyTorch model
(`RawInputModel`); a difference over `TOLERANCE` is a RunFailure, never a quietly wrong file.

The ONNX exporter: `torch.onnx.export(..., dynamo=False)`, the TorchScript-based one, although
torch 2.9+ deprecates it. Both exporters export every family on torch 2.13 once the text LSTM is
traced in its unpacked form (`recurrent.UnpackedRecurrent`: packing reads lengths as Python
numbers, which any trace freezes), but measured here (2 shared cores) the dynamo exporter
(`dynamo=True`, onnxscript) took 8-15 s for the mlp and resnet and 43-48 s for an LSTM where this
one takes 0.1-1 s, and `torch.export` fixes the LSTM's sequence length (it specialises the time
dimension of `aten.lstm`), so a text model would accept only its training width. This exporter
writes ONNX's own LSTM/GRU/RNN operators with batch and length dynamic, and needs only the onnx
package. When torch drops it, `dynamo=True` is the one-line change (`_onnx_bytes`).
`torch.export` (pt2) likewise keeps a text model's length at its training width.

Optional packages (the `export` extra: onnx, onnxruntime) are imported inside the functions; a
missing one is one line naming the extra. The run folder is read as `evaluate` reads it (the
weights from safetensors; nothing is unpickled).
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli import __version__
from dlcli.errors import InputError, RunFailure

if TYPE_CHECKING:
    import torch

    from dlcli.training.portable import RawInputModel

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "pt2": ".pt2"}
OPSET = 18
# largest difference between the file's outputs and PyTorch's: of a probability, or relative to
# the largest predicted number of a regression run (targets in the thousands round at 1e-4)
TOLERANCE = 1e-4
CHECK_BATCH = 5  # the check batch's size (the trace uses TRACE_BATCH: dynamic batch, proven)
TRACE_BATCH = 2
EXTRA = "pip install 'dlcli[export]'"


@dataclass
class Export:
    """`export`'s result; `to_dict()` is `dlcli export --json`."""

    run: str
    model: str
    format: str
    out: str
    bytes: int
    input: dict[str, Any]  # {"name", "dtype", "shape": ["batch", ...], "meaning"}
    output: dict[str, Any]
    classes: list[str]
    check: dict[str, Any]  # {"batch", "max_difference"}: the file against PyTorch
    metadata: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    targets: list[str] | None = None  # a regression run's: the output is their predictions

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        if self.targets is None:
            document.pop("targets")
        return document


def load_model(run: str | Path, device: str = "cpu") -> RawInputModel:
    """The trained model of run folder `run` as a plain `nn.Module` in eval mode, taking raw
    inputs (what `dlcli predict` reads) and returning class probabilities (B, C); its
    `class_names`, `sample_shape`, `input_dtype`, `vocabulary` and `encode(texts)` say how to
    feed it. Run-folder errors are `dlcli.InputError`s, as for `dlcli.evaluate`."""
    from dlcli.training.evaluate import load_run
    from dlcli.training.portable import RawInputModel

    loaded = load_run(Path(run), device.lower())
    return RawInputModel(loaded.model, loaded.spec).to(loaded.device).eval()


def export(run: str | Path, format: str = "onnx", out: str | Path | None = None) -> Export:
    """Write run `run`'s model as `format` (onnx, torchscript, pt2) to `out` (default: the run
    folder's path plus the format's suffix, e.g. runs/mine.onnx). See the module docstring."""
    import torch

    fmt = str(format).lower()
    if fmt not in FORMATS:
        raise InputError(f"invalid --format '{format}': expected one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        _require("onnx", "ONNX export")
        _require("onnxruntime", "checking the ONNX file")
    run = Path(run)
    target = Path(out) if out is not None else Path(str(run).rstrip("/") + FORMATS[fmt])
    _check_target(target, run)
    wrapper = load_model(run, "cpu")
    traced = wrapper.exportable()
    example = _inputs(wrapper, TRACE_BATCH, seed=0)
    check = _inputs(wrapper, CHECK_BATCH, seed=1)
    with torch.inference_mode():
        expected = wrapper(check)
    metadata = _metadata(wrapper, fmt)
    writer = {"onnx": _onnx_bytes, "torchscript": _torchscript_bytes, "pt2": _pt2_bytes}[fmt]
    data, run_file = writer(traced, example, metadata)
    got = run_file(data, check)
    difference = float((got - expected).abs().max()) if len(expected) else 0.0
    scale = max(1.0, float(expected.abs().max())) if len(expected) else 1.0
    if not difference <= TOLERANCE * scale:  # NaN included
        raise RunFailure(
            f"the {fmt} export of {run} gives {wrapper.output_name} up to {difference:.3g} away "
            f"from the PyTorch model's (tolerance {TOLERANCE * scale:.3g}); nothing was written"
        )
    from dlcli.files import atomic_write_bytes

    try:
        atomic_write_bytes(target, data)
    except OSError as exc:
        raise InputError(f"cannot write {target} ({exc.strerror or exc})") from None
    return Export(
        run=str(run),
        model=wrapper.family,
        format=fmt,
        out=str(target),
        bytes=len(data),
        input=_input_info(wrapper, fmt),
        output={
            "name": wrapper.output_name,
            "dtype": "float32",
            "shape": ["batch", "classes" if wrapper.targets is None else "targets"],
        },
        classes=wrapper.class_names,
        check={"batch": CHECK_BATCH, "max_difference": difference},
        metadata={k: v for k, v in metadata.items() if k != "vocabulary"},
        notes=_notes(wrapper, fmt),
        targets=wrapper.targets,
    )


def _require(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise InputError(f"{what} needs the '{module}' package: {EXTRA}")


def _check_target(target: Path, run: Path) -> None:
    if target.is_dir():
        raise InputError(f"-o {target}: is a folder; give a file name, e.g. {target}/model.onnx")
    if not target.parent.is_dir():
        raise InputError(f"-o {target}: folder '{target.parent}' does not exist")
    if target.resolve().parent == run.resolve():
        raise InputError(f"-o {target}: write the export outside the run folder")


def _input_info(wrapper: RawInputModel, fmt: str) -> dict[str, Any]:
    if wrapper.vocabulary is not None:
        width = wrapper.sample_shape[0]  # pt2: torch.export fixes the LSTM's length
        return {
            "name": "ids",
            "dtype": "int64",
            "shape": ["batch", width if fmt == "pt2" else "steps"],
            "meaning": "token ids, right-padded with 0 (<pad>); 1 is <unk>; the vocabulary is "
            "the metadata's 'vocabulary' (tokens: lower-cased runs of letters and digits)",
        }
    dtype = str(wrapper.input_dtype).replace("torch.", "")
    meaning = "raw samples as dlcli predict reads them"
    if dtype == "uint8":
        meaning = f"pixels 0..{wrapper.pixel_max}, as stored (not divided, not standardised)"
    return {
        "name": "x",
        "dtype": dtype,
        "shape": ["batch", *wrapper.sample_shape],
        "meaning": meaning,
    }


def _metadata(wrapper: RawInputModel, fmt: str) -> dict[str, str]:
    """String metadata for every format (ONNX metadata_props, the archives' dlcli.json)."""
    info = _input_info(wrapper, fmt)
    metadata = {
        "dlcli_version": __version__,
        "model": wrapper.family,
        "class_names": json.dumps(wrapper.class_names),
        "input": json.dumps(info),
        "output": "probabilities (batch, classes): softmax of the class scores",
    }
    if wrapper.targets is not None:
        metadata["targets"] = json.dumps(wrapper.targets)
        metadata["output"] = "predictions (batch, targets): in the targets' original units"
    if wrapper.vocabulary is not None:
        metadata["vocabulary"] = json.dumps(wrapper.vocabulary)
    return metadata


def _notes(wrapper: RawInputModel, fmt: str) -> list[str]:
    notes = []
    if fmt == "torchscript":
        notes.append(
            "PyTorch deprecates TorchScript (torch.jit.load warns from 2.13): prefer pt2 in "
            "Python, onnx elsewhere"
        )
    precision = wrapper.spec.train.precision
    if precision != "32":
        notes.append(
            f"the run was trained and is scored with --precision {precision}; the export "
            "computes in float32 (probabilities differ in the last digits)"
        )
    if wrapper.vocabulary is not None:
        notes.append(
            "text models take token ids: tokenise (dlcli.tokens.tokenize) and map words "
            "through the metadata's vocabulary (unknown words: 1), or use dlcli.load_model(run)"
            ".encode(texts)"
        )
    return notes


def _inputs(wrapper: RawInputModel, batch: int, seed: int) -> torch.Tensor:
    """A seeded batch of valid raw inputs: pixels, standardised-scale features, or token ids
    of varied lengths (right-padded, one row all padding when the batch is large enough)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    shape = (batch, *wrapper.sample_shape)
    if wrapper.vocabulary is not None:
        low = 2 if len(wrapper.vocabulary) > 2 else 1  # words (a vocabulary may have none)
        ids = torch.randint(low, len(wrapper.vocabulary), shape, generator=gen)
        width = shape[1]
        lengths = torch.randint(1, width + 1, (batch,), generator=gen)
        lengths[0] = width
        ids[torch.arange(width)[None, :] >= lengths[:, None]] = 0
        if batch > 2:
            ids[-1] = 0
        return ids
    if wrapper.input_dtype == torch.uint8:
        return torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
    x = torch.randn(shape, generator=gen)
    if wrapper.mean is not None and wrapper.std is not None:  # raw = standardised * std + mean
        x = x * wrapper.std + wrapper.mean
    return x


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Exporters warn about what the check batch settles (TracerWarnings on values read in
    Python, the LSTM batch-size note, the TorchScript exporter's deprecation): not the user's
    to read, and errors under pytest's `filterwarnings = error`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _onnx_bytes(model: RawInputModel, example: torch.Tensor, metadata: dict[str, str]):
    """(file bytes, runner). The TorchScript-based exporter (dynamo=False): the dynamo one
    (onnxscript) fails on the recurrent family's nn.LSTM/GRU/RNN on torch 2.13, this one maps
    them to ONNX's LSTM/GRU/RNN operators (see the module docstring)."""
    import io

    import onnx
    import torch

    name = "ids" if model.vocabulary is not None else "x"
    axes = {0: "batch", 1: "steps"} if model.vocabulary is not None else {0: "batch"}
    buffer = io.BytesIO()
    try:
        with _quiet():
            torch.onnx.export(
                model,
                (example,),
                buffer,  # type: ignore[arg-type]  # the TorchScript exporter takes a file object
                input_names=[name],
                output_names=[model.output_name],
                dynamic_axes={name: axes, model.output_name: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,  # see the module docstring
            )
    except Exception as exc:
        raise RunFailure(
            f"torch.onnx cannot export this {model.family} model: {_first(exc)}"
        ) from None
    proto = onnx.load_from_string(buffer.getvalue())
    proto.doc_string = (
        f"dlcli {__version__}: {model.family} model, raw inputs -> {model.output_name}"
    )
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    return proto.SerializeToString(), _run_onnx


def _run_onnx(data: bytes, x: torch.Tensor) -> torch.Tensor:
    import onnxruntime
    import torch

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return torch.from_numpy(session.run(None, {name: x.numpy()})[0])


def _torchscript_bytes(model: RawInputModel, example: torch.Tensor, metadata: dict[str, str]):
    import io

    import torch

    buffer = io.BytesIO()
    try:
        with _quiet(), torch.no_grad():
            traced = torch.jit.trace(model, (example,), check_trace=False)
            torch.jit.save(traced, buffer, _extra_files={"dlcli.json": json.dumps(metadata)})
    except Exception as exc:
        raise RunFailure(
            f"torch.jit.trace cannot export this {model.family} model: {_first(exc)}"
        ) from None

    def run(data: bytes, x: torch.Tensor) -> torch.Tensor:
        with _quiet(), torch.no_grad():
            return torch.jit.load(io.BytesIO(data))(x)

    return buffer.getvalue(), run


def _pt2_bytes(model: RawInputModel, example: torch.Tensor, metadata: dict[str, str]):
    import io

    import torch
    from torch.export import Dim

    # the batch is dynamic; a text model's length stays the training width (see the docstring)
    dims = {0: Dim("batch", min=1)}
    buffer = io.BytesIO()
    try:
        with _quiet():
            program = torch.export.export(model, (example,), dynamic_shapes=(dims,))
            torch.export.save(program, buffer, extra_files={"dlcli.json": json.dumps(metadata)})
    except Exception as exc:
        raise RunFailure(
            f"torch.export cannot export this {model.family} model: {_first(exc)}"
        ) from None

    def run(data: bytes, x: torch.Tensor) -> torch.Tensor:
        with _quiet(), torch.no_grad():
            return torch.export.load(io.BytesIO(data)).module()(x)

    return buffer.getvalue(), run


def _first(exc: BaseException) -> str:
    """The first line of an exporter's error (they run to pages)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."

"""`evaluate` and `predict`: rebuild a model from its run folder and use it.

The model is rebuilt from config.json through the registry (`RunSpec.build_model`), its weights
load from model.safetensors, and inputs get the saved preprocessing (layout, standardisation,
image mode and size, CSV columns by name). No pickles. With no data, `evaluate` recomputes the
run's own seeded split and scores its test part, reproducing the run's `test_accuracy` exactly
(same weights, same preprocessing, same fixed evaluation batch size and thread count).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError
from dlcli.training.data.folders import read_image_inputs
from dlcli.training.data.kinds import RawInputs, check_shape
from dlcli.training.data.preprocess import as_model_values
from dlcli.training.data.registry import read_labelled, read_raw
from dlcli.training.engine.batches import inputs_for
from dlcli.training.engine.device import resolve_device, set_threads
from dlcli.training.engine.metrics import accuracy, loss_function, scores_of
from dlcli.training.engine.precision import autocast, check_precision
from dlcli.training.families import get_family
from dlcli.training.runs import files as rd
from dlcli.training.runs import state as rs
from dlcli.training.runs.spec import RunSpec, load_split, read_spec

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn


@dataclass
class Evaluation:
    """`evaluate`'s result; `to_dict()` is `dlcli evaluate --json`."""

    run: str
    data: str  # the data source, or "SOURCE (the run's test split)"
    model: str
    accuracy: float
    loss: float
    n: int
    classes: list[str]
    per_class: list[dict[str, Any]]  # {"class", "precision", "recall", "support"} per class
    confusion: list[list[int]]  # rows: true class, columns: predicted

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Predictions:
    """`predict`'s result; `to_dict()` is `dlcli predict --json`."""

    run: str
    model: str
    # {"input", "class", "probability"} per input, plus "top" [{"class", "probability"}] if top > 1
    predictions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadedRun:
    spec: RunSpec
    model: nn.Module
    device: torch.device


def load_run(run: Path, device: str = "auto") -> LoadedRun:
    """The trained model of a run folder, in eval mode on `device`."""
    run = Path(run)
    spec, _ = read_spec(run)
    state = rs.run_state(run)
    if state.state == rs.RESUMABLE:
        raise InputError(
            f"run '{run}' is not finished: it is {state.describe()}; finish it with "
            f"'dlcli train {spec.model} --resume {run}' first"
        )
    if state.state != rs.FINISHED:
        raise InputError(
            f"run '{run}' has no trained model (status '{spec.status or 'unknown'}', no "
            "checkpoint): train it again"
        )
    dev = resolve_device(device)
    check_precision(spec.train.precision, dev)  # evaluate in the run's precision
    set_threads(spec.threads)
    model = spec.build_model()
    tensors, _ = rd.load_tensors(run / rd.WEIGHTS)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise InputError(
            f"{run / rd.WEIGHTS}: the weights do not fit the model in config.json "
            f"({str(exc).splitlines()[0]})"
        ) from None
    model.to(dev).eval()
    return LoadedRun(spec, model, dev)


def load_labelled(spec: RunSpec, source: str, target: str | None) -> tuple[np.ndarray, list[str]]:
    """Raw samples (N, *sample_shape) and their labels as class names, from any data source:
    the family's own kind of data first (lstm: text -> token ids), else the kind's reader."""
    import numpy as np

    path = Path(source).expanduser()
    reader = get_family(spec.model).read_inputs
    label = target or spec.data.target
    own = reader(spec.model_config, path, spec.sample_shape, label) if reader else None
    if own is not None:
        x, own_labels = own
        if own_labels is None:
            raise InputError(f"{path}: no label column '{label or 'label'}'")
        labels = own_labels
    else:
        x, labels = read_labelled(spec, source, target)
    check_shape(spec, x, source)
    unknown = sorted(set(labels) - set(spec.class_names))
    if unknown:
        raise InputError(
            f"{source}: label(s) {', '.join(unknown[:5])} are not among the model's "
            f"classes ({', '.join(spec.class_names[:12])})"
        )
    if x.dtype.kind == "f" and x.dtype != np.float32 and not isinstance(x, np.memmap):
        x = x.astype(np.float32)
    return x, labels  # uint8 pixels, token ids and memory maps as stored


def evaluate(
    run: Path, data: str | None = None, target: str | None = None, device: str = "auto"
) -> Evaluation:
    """Accuracy, loss, per-class precision/recall and the confusion matrix of a trained run."""
    import numpy as np
    import torch

    loaded = load_run(run, device)
    spec = loaded.spec
    if data is None:
        if spec.data.test_fraction == 0:
            raise InputError(f"run '{run}' kept no test split (--test-fraction 0); give --data")
        _, prepared = load_split(spec)
        xt = inputs_for(spec, prepared.x_test, loaded.device)
        y = prepared.y_test
        source = f"{spec.data.source} (the run's test split)"
    else:
        raw, labels = load_labelled(spec, data, target)
        index = {name: i for i, name in enumerate(spec.class_names)}
        xt = inputs_for(spec, raw, loaded.device, raw=True)
        y = np.array([index[v] for v in labels], dtype=np.int64)
        source = data
    yt = torch.from_numpy(y).to(loaded.device)
    with autocast(spec.train.precision, loaded.device):  # the run's precision, as it scored
        scores = scores_of(loaded.model, xt)
        loss = float(loss_function(spec.train.loss)(scores, yt))
    pred = scores.argmax(1).cpu().numpy()
    k = len(spec.class_names)
    confusion = np.zeros((k, k), dtype=np.int64)  # rows: true class, columns: predicted
    np.add.at(confusion, (y, pred), 1)
    per_class = []
    for i, name in enumerate(spec.class_names):
        tp, predicted, support = confusion[i, i], confusion[:, i].sum(), confusion[i].sum()
        per_class.append(
            {
                "class": name,
                "precision": float(tp / predicted) if predicted else None,
                "recall": float(tp / support) if support else None,
                "support": int(support),
            }
        )
    return Evaluation(
        run=str(run),
        data=source,
        model=spec.model,
        # metrics.accuracy, as the loop scores, so the run's test_accuracy comes back exactly
        accuracy=accuracy(scores, yt) if len(y) else float("nan"),
        loss=loss,
        n=int(len(y)),
        classes=spec.class_names,
        per_class=per_class,
        confusion=confusion.tolist(),
    )


def predict(run: Path, inputs: list[str], device: str = "auto", top: int = 1) -> Predictions:
    """Class and probability (softmax of the scores) for every input: CSV rows, .npz samples or
    image files (a folder: every image in it)."""
    import torch

    loaded = load_run(run, device)
    spec = loaded.spec
    names, x = read_inputs(spec, inputs)
    xt = inputs_for(spec, x, loaded.device, raw=True)
    with autocast(spec.train.precision, loaded.device):
        scores = scores_of(loaded.model, xt)
    probs = torch.softmax(scores.float(), dim=1).cpu()  # (N, C)
    k = max(1, min(top, len(spec.class_names)))
    values, indices = probs.topk(k, dim=1)  # (N, k) each
    predictions = []
    for name, vals, idxs in zip(names, values.tolist(), indices.tolist(), strict=True):
        entry = {"input": name, "class": spec.class_names[idxs[0]], "probability": vals[0]}
        if k > 1:
            entry["top"] = [
                {"class": spec.class_names[i], "probability": v}
                for v, i in zip(vals, idxs, strict=True)
            ]
        predictions.append(entry)
    return Predictions(run=str(run), model=spec.model, predictions=predictions)


def read_inputs(spec: RunSpec, inputs: list[str]) -> tuple[list[str], np.ndarray]:
    """predict's inputs: (a name per sample, raw samples (N, *sample_shape)) in input order,
    image files last (they are read together). Every input is dispatched by its kind
    (`dlcli.training.data.registry`), the family's own reader offered each file first."""
    import numpy as np

    reader = get_family(spec.model).read_inputs
    names: list[str] = []
    batches: list[np.ndarray] = []
    images: list[Path] = []

    def own(path: Path) -> RawInputs | None:
        claimed = reader(spec.model_config, path, spec.sample_shape, None) if reader else None
        if not claimed:
            return None  # the family's own kind of input (lstm: lines of text) or not
        return RawInputs([f"{path}:{i + 1}" for i in range(len(claimed[0]))], claimed[0])

    for item in inputs:
        raw = read_raw(spec, item, own)
        if raw.x is not None:
            batches.append(raw.x)
            names += raw.names
        images += raw.images
    if images:
        batches.append(read_image_inputs(spec, images))
        names += [str(p) for p in images]
    if len(batches) == 1:
        return names, batches[0]  # as stored (a memory map stays one)
    if len({b.dtype for b in batches}) > 1:  # e.g. uint8 image files with float .npz rows
        batches = [as_model_values(b, spec.pixel_max) for b in batches]
    x_all = np.concatenate(batches) if batches else np.zeros((0, *spec.sample_shape), np.float32)
    return names, x_all

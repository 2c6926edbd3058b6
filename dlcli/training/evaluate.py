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
from typing import TYPE_CHECKING, Any, cast

from dlcli.errors import InputError
from dlcli.training.config import DataConfig
from dlcli.training.data.folders import read_image_inputs
from dlcli.training.data.kinds import RawInputs, check_shape
from dlcli.training.data.preprocess import as_model_values
from dlcli.training.data.registry import read_labelled, read_raw
from dlcli.training.engine.batches import inputs_for
from dlcli.training.engine.device import resolve_device, set_threads
from dlcli.training.engine.metrics import scores_of
from dlcli.training.engine.precision import autocast, check_precision
from dlcli.training.engine.tasks import Regression, accuracy
from dlcli.training.families import get_family
from dlcli.training.runs import files as rd
from dlcli.training.runs import state as rs
from dlcli.training.runs.spec import RunSpec, load_data, load_split, read_spec

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
    accuracy: float | None
    loss: float
    n: int
    classes: list[str]
    per_class: list[dict[str, Any]]  # {"class", "precision", "recall", "support"} per class
    confusion: list[list[int]]  # rows: true class, columns: predicted
    # regression: metrics in original units, and the residuals' statistics per target
    # (`tasks.Regression.residuals`) where the per-class block and confusion matrix would be
    task: str = "classification"
    targets: list[str] = field(default_factory=list)
    mse: float | None = None
    rmse: float | None = None
    mae: float | None = None
    r2: float | None = None
    residuals: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        if self.task == "classification":
            for key in ("task", "targets", "mse", "rmse", "mae", "r2", "residuals"):
                document.pop(key)
        return document


@dataclass
class Predictions:
    """`predict`'s result; `to_dict()` is `dlcli predict --json`."""

    run: str
    model: str
    # {"input", "class", "probability"} per input, plus "top" [{"class", "probability"}] if top > 1;
    # regression: {"input", "prediction": [one number per target, original units]}
    predictions: list[dict[str, Any]] = field(default_factory=list)
    targets: list[str] | None = None  # regression: the target names, in prediction order

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        if self.targets is None:
            document.pop("targets")
        return document


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
    """Accuracy, loss, per-class precision/recall and the confusion matrix of a trained run;
    for a regression run MSE, RMSE, MAE, R² and the residuals' statistics per target."""
    import torch

    loaded = load_run(run, device)
    spec, task = loaded.spec, loaded.spec.task
    if data is None:
        if spec.data.test_fraction == 0:
            raise InputError(f"run '{run}' kept no test split (--test-fraction 0); give --data")
        _, prepared = load_split(spec)
        xt = inputs_for(spec, prepared.x_test, loaded.device)
        y = prepared.y_test  # as the model learns them (regression: standardised)
        source = f"{spec.data.source} (the run's test split)"
    else:
        raw, targets = labelled_data(spec, data, target)
        y = task.encode(targets)  # as the model learns them (regression: standardised)
        xt = inputs_for(spec, raw, loaded.device, raw=True)
        source = data
    yt = torch.from_numpy(y).to(loaded.device)
    with autocast(spec.train.precision, loaded.device):  # the run's precision, as it scored
        scores = scores_of(loaded.model, xt)
        loss = float(task.loss(spec.train.loss)(scores, yt))
    common: dict[str, Any] = {
        "run": str(run),
        "data": source,
        "model": spec.model,
        "loss": loss,
        "n": len(y),
    }
    if isinstance(task, Regression):
        predicted = task.decode(scores.float().cpu().numpy())
        return Evaluation(
            **common,
            accuracy=None,
            classes=[],
            per_class=[],
            confusion=[],
            task=task.name,
            targets=list(task.names),
            **cast(dict[str, Any], task.split_metrics(scores, yt)),
            residuals=task.residuals(predicted, task.decode(y)),
        )
    confusion, per_class = _confusion(spec.class_names, y, scores.argmax(1).cpu().numpy())
    return Evaluation(
        **common,
        # tasks.accuracy, as the loop scores, so the run's test_accuracy comes back exactly
        accuracy=accuracy(scores, yt) if len(y) else float("nan"),
        classes=spec.class_names,
        per_class=per_class,
        confusion=confusion.tolist(),
    )


def labelled_data(spec: RunSpec, data: str, target: str | None) -> tuple[np.ndarray, np.ndarray]:
    """evaluate --data: raw samples and their targets (class indices; regression: the target
    columns (N, T) in their own units)."""
    import numpy as np

    task = spec.task
    if isinstance(task, Regression):
        config = DataConfig(source=data, target=target or spec.data.target)
        dataset = load_data(spec.model, spec.model_config, config, spec.train)
        check_shape(spec, dataset.x, data)
        if dataset.target_names != list(task.names) or (
            spec.feature_names is not None and dataset.feature_names != spec.feature_names
        ):
            raise InputError(
                f"{data}: its targets or feature columns differ from the run's (targets "
                f"{', '.join(task.names)}); give --target, and the run's columns in its order"
            )
        return dataset.x, dataset.y
    raw, labels = load_labelled(spec, data, target)
    index = {name: i for i, name in enumerate(spec.class_names)}
    return raw, np.array([index[v] for v in labels], dtype=np.int64)


def _confusion(
    names: list[str], y: np.ndarray, pred: np.ndarray
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The confusion matrix (rows: true class, columns: predicted) and per-class precision,
    recall and support."""
    import numpy as np

    k = len(names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    per_class = []
    for i, name in enumerate(names):
        tp, predicted, support = confusion[i, i], confusion[:, i].sum(), confusion[i].sum()
        per_class.append(
            {
                "class": name,
                "precision": float(tp / predicted) if predicted else None,
                "recall": float(tp / support) if support else None,
                "support": int(support),
            }
        )
    return confusion, per_class


def predict(run: Path, inputs: list[str], device: str = "auto", top: int = 1) -> Predictions:
    """Class and probability (softmax of the scores) for every input: CSV rows, .npz samples or
    image files (a folder: every image in it); a regression run's predicted numbers."""
    import torch

    loaded = load_run(run, device)
    spec = loaded.spec
    if top != 1 and spec.train.regression:
        raise InputError(
            f"--top ranks a classifier's classes; {run} is a regression run (it predicts "
            "numbers): drop --top"
        )
    names, x = read_inputs(spec, inputs)
    xt = inputs_for(spec, x, loaded.device, raw=True)
    with autocast(spec.train.precision, loaded.device):
        scores = scores_of(loaded.model, xt)
    task = spec.task
    if isinstance(task, Regression):  # numbers in the targets' units, one per target
        values = task.decode(scores.float().cpu().numpy()).tolist()
        predictions = [{"input": n, "prediction": v} for n, v in zip(names, values, strict=True)]
        return Predictions(str(run), spec.model, predictions, targets=list(task.names))
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

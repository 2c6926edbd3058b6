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
from dlcli.files import check_regular
from dlcli.training import run_dir as rd
from dlcli.training.batches import inputs_for
from dlcli.training.data import (
    DEFAULT_IMAGE_SIZE,
    IMAGE_EXTENSIONS,
    DataConfig,
    as_model_values,
    csv_table,
    image_files,
    input_kind,
    load_dataset,
    open_csv,
    read_images,
    read_npz,
)
from dlcli.training.device import autocast, check_precision, resolve_device, set_threads
from dlcli.training.families import get_family
from dlcli.training.metrics import accuracy, loss_function, scores_of
from dlcli.training.spec import RunSpec, load_split, read_spec

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
    state = rd.run_state(run)
    if state.state == rd.RESUMABLE:
        raise InputError(
            f"run '{run}' is not finished: it is {state.describe()}; finish it with "
            f"'dlcli train {spec.model} --resume {run}' first"
        )
    if state.state != rd.FINISHED:
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


def _image_size(spec: RunSpec) -> tuple[int, int]:
    return tuple(spec.data.image_size or DEFAULT_IMAGE_SIZE)  # type: ignore[return-value]


def _check_shape(spec: RunSpec, x: np.ndarray, where: str) -> None:
    if tuple(x.shape[1:]) != spec.sample_shape:
        want = "x".join(map(str, spec.sample_shape))
        got = "x".join(map(str, x.shape[1:]))
        raise InputError(f"{where}: samples have shape {got}; the model was trained on {want}")


def load_labelled(spec: RunSpec, source: str, target: str | None) -> tuple[np.ndarray, list[str]]:
    """Raw samples (N, *sample_shape) and their labels as class names, from any data source."""
    import numpy as np

    path = Path(source).expanduser()
    kind = input_kind(source)
    reader = get_family(spec.model).read_inputs
    label = target or spec.data.target
    own = reader(spec.model_config, path, spec.sample_shape, label) if reader else None
    if own is not None:  # the family's own kind of data (lstm: text -> token ids)
        x, labels = own
        if labels is None:
            raise InputError(f"{path}: no label column '{label or 'label'}'")
    elif kind == "csv":
        if spec.feature_names is None:
            raise InputError(f"{path}: the model was not trained on CSV features")
        x, labels, _ = csv_table(path, label or "label", feature_names=spec.feature_names)
        if labels is None:
            raise InputError(f"{path}: no label column '{label or 'label'}'")
    elif kind == "npz":
        x, labels = read_npz(path)
    elif kind == "folder":
        classes = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
        files = [(d.name, p) for d in classes for p in image_files(d)]
        if not files:
            raise InputError(f"{path}: no images found in DIR/<class>/*.png|jpg")
        x = read_images([p for _, p in files], _image_size(spec), spec.image_mode or "L")
        if spec.pixel_max is None:  # a model of float arrays: image files read as [0, 1]
            x = as_model_values(x, 255)
        labels = [name for name, _ in files]
    else:  # digits, spiral, or the shared loader's message for a missing or unknown file
        dataset = load_dataset(DataConfig(source=source, target=target), seed=spec.train.seed)
        x = dataset.x
        labels = [dataset.class_names[i] for i in dataset.y.tolist()]
    assert labels is not None
    _check_shape(spec, x, source)
    unknown = sorted(set(labels) - set(spec.class_names))
    if unknown:
        raise InputError(
            f"{source}: label(s) {', '.join(unknown[:5])} are not among the model's "
            f"classes ({', '.join(spec.class_names[:12])})"
        )
    if x.dtype.kind == "f" and x.dtype != np.float32 and not isinstance(x, np.memmap):
        x = x.astype(np.float32)
    return x, labels  # uint8 pixels, token ids and memory maps as stored


def _csv_features(spec: RunSpec, path: Path) -> list[str]:
    """The CSV columns to read: the training columns by name; for a model trained on other data
    (digits, images, .npz), every column but the label, as many as the model has inputs."""
    import csv
    import math

    if spec.feature_names is not None:
        return spec.feature_names
    with open_csv(path) as fh:
        header = [h.strip() for h in next(csv.reader(fh), [])]
    features = [h for h in header if h != (spec.data.target or "label")]
    want = math.prod(spec.sample_shape)
    if len(features) != want:
        raise InputError(
            f"{path}: {len(features)} feature columns; the model takes {want} values "
            f"per input ({'x'.join(map(str, spec.sample_shape))})"
        )
    return features


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
    image files last (they are read together). Every input is dispatched by `input_kind`."""
    import numpy as np

    reader = get_family(spec.model).read_inputs
    names: list[str] = []
    batches: list[np.ndarray] = []
    images: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        kind = input_kind(path)
        if kind not in ("folder", "missing"):
            check_regular(path, "input")  # a FIFO or a device: say so, and never read it
        if kind == "folder":
            found = image_files(path)
            if not found:
                raise InputError(
                    f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder"
                )
            images += found
        elif kind == "missing":
            raise InputError(f"input '{item}' not found")
        elif reader and (own := reader(spec.model_config, path, spec.sample_shape, None)):
            batches.append(own[0])  # the family's own kind of input (lstm: lines of text)
            names += [f"{path}:{i + 1}" for i in range(len(own[0]))]
        elif kind == "image":
            images.append(path)
        elif kind == "csv":
            x, _, _ = csv_table(path, None, feature_names=_csv_features(spec, path))
            x = x.reshape(len(x), *spec.sample_shape)  # images given as one row of pixels each
            batches.append(x)
            names += [f"{path}:{i + 1}" for i in range(len(x))]
        elif kind == "npz":
            x, _ = read_npz(path, need_y=False)
            _check_shape(spec, x, str(path))
            batches.append(x)
            names += [f"{path}[{i}]" for i in range(len(x))]
        else:
            raise InputError(
                f"input '{item}': unknown type '{path.suffix.lower()}'; expected .csv, .npz or "
                f"an image ({', '.join(IMAGE_EXTENSIONS)})"
            )
    if images:
        batches.append(_read_image_inputs(spec, images))
        names += [str(p) for p in images]
    if len(batches) == 1:
        return names, batches[0]  # as stored (a memory map stays one)
    if len({b.dtype for b in batches}) > 1:  # e.g. uint8 image files with float .npz rows
        batches = [as_model_values(b, spec.pixel_max) for b in batches]
    x_all = np.concatenate(batches) if batches else np.zeros((0, *spec.sample_shape), np.float32)
    return names, x_all


def _read_image_inputs(spec: RunSpec, images: list[Path]) -> np.ndarray:
    """Image files as the model saw its training images: (N, C, H, W), same mode and size."""
    if len(spec.sample_shape) != 3:
        raise InputError("this model was not trained on images; give .csv or .npz input")
    if spec.image_mode is None:  # e.g. digits: 8x8 ink counts 0..16, not image files
        raise InputError(
            f"this model was trained on '{spec.data.source}' arrays, not on image files; "
            "give its inputs as .npz or CSV rows"
        )
    size = (spec.sample_shape[1], spec.sample_shape[2])
    x = read_images(images, size, spec.image_mode)
    _check_shape(spec, x, str(images[0]))
    return x if spec.pixel_max is not None else as_model_values(x, 255)

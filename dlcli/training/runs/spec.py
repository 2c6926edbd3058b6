"""config.json: the run's specification (`RunSpec`), one object from training to evaluation.

A `RunSpec` holds everything to rebuild a run's model and its preprocessing (the family and its
config, the data and loop configs, layout, shapes, class names, standardisation) and the run's
bookkeeping (status, epochs done, torch threads and version). The loop mutates it (status,
the fitted standardiser, a new epoch total on resume) and writes it with `save`; `read_spec`
reads it back, validated, for `resume`, `evaluate` and `predict`.

    status   "running" -> "done" | "interrupted" | "diverged"

`make_spec`, `prepare` and `load_split` turn a loaded `Dataset` into the split, standardised
arrays the loop trains on, the same way every time (so `evaluate` reproduces the test split).
No torch here; numpy inside functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli import __version__
from dlcli.errors import InputError
from dlcli.training.config import DataConfig, TrainConfig, config_from_dict, config_to_dict
from dlcli.training.data import (
    Dataset,
    Rows,
    Split,
    Standardizer,
    as_model_values,
    layout_shape,
    split_indices,
    stored_per_batch,
    to_layout,
)
from dlcli.training.engine.tasks import Regression, Task, adapt, task_for
from dlcli.training.families import check_model_size, get_family, load_family_data
from dlcli.training.runs.files import CONFIG, RUN_FORMAT, read_json, write_json

if TYPE_CHECKING:
    import numpy as np
    from torch import nn


@dataclass
class RunSpec:
    """Everything config.json holds: enough to rebuild the model and its preprocessing."""

    model: str
    model_config: Any
    data: DataConfig
    train: TrainConfig
    layout: str
    input_shape: tuple[int, ...]  # per sample, in the model's layout
    sample_shape: tuple[int, ...]  # per sample, as loaded (F,) or (C, H, W)
    class_names: list[str]
    standardizer: Standardizer | None
    feature_names: list[str] | None = None
    image_mode: str | None = None
    # uint8 pixels are divided by this before standardisation (`Dataset.pixel_max`); None:
    # no scaling (features; integer x is token ids)
    pixel_max: int | None = None
    # the run's bookkeeping
    threads: int | None = None  # torch's CPU threads while training (None: PyTorch's default)
    torch_version: str | None = None
    status: str | None = None  # running, done, interrupted, diverged
    epochs_done: int | None = None  # set when the run is done
    dlcli_version: str = __version__  # of the dlcli that started the run
    # a regression run's targets: {"names", "mean", "std"} (the training split's statistics,
    # fitted by `prepare`); None for classification
    targets: dict[str, Any] | None = None

    @property
    def task(self) -> Task:
        """What the run learns (engine/tasks.py): its loss decides."""
        return task_for(self.train.loss, len(self.class_names), self.targets)

    @property
    def outputs(self) -> int:
        """The model's outputs per sample: one per class, or one per regression target."""
        return self.task.outputs

    def to_dict(self) -> dict[str, Any]:
        document = {
            "format": RUN_FORMAT,
            "dlcli_version": self.dlcli_version,
            "model": self.model,
            "model_config": config_to_dict(self.model_config),
            "data": config_to_dict(self.data),
            "train": config_to_dict(self.train),
            "layout": self.layout,
            "input_shape": list(self.input_shape),
            "sample_shape": list(self.sample_shape),
            "class_names": self.class_names,
            "feature_names": self.feature_names,
            "image_mode": self.image_mode,
            "pixel_max": self.pixel_max,
            "standardize": self.standardizer.to_dict() if self.standardizer else None,
            "targets": self.targets,
            "threads": self.threads,
            "torch_version": self.torch_version,
            "status": self.status,
        }
        if self.epochs_done is not None:
            document["epochs_done"] = self.epochs_done
        return document

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: Path) -> RunSpec:
        if not isinstance(d, dict) or d.get("format") != RUN_FORMAT:
            found = d.get("format") if isinstance(d, dict) else None
            raise InputError(f"{where}: not a dlcli run config (format {found!r})")
        for name in ("input_shape", "sample_shape"):
            _check_shape(d.get(name), name, where)
        _check_fields(d, where)
        _check_standardize(d.get("standardize"), where)
        _check_targets(d.get("targets"), where)
        try:
            family = get_family(d["model"])
            return cls(
                model=d["model"],
                model_config=config_from_dict(family.config_cls, d["model_config"]),
                data=config_from_dict(DataConfig, d["data"]),
                train=config_from_dict(TrainConfig, d["train"]),
                layout=d["layout"],
                input_shape=tuple(d["input_shape"]),
                sample_shape=tuple(d["sample_shape"]),
                class_names=list(d["class_names"]),
                standardizer=Standardizer.from_dict(d["standardize"]) if d["standardize"] else None,
                feature_names=d.get("feature_names"),
                image_mode=d.get("image_mode"),
                # runs from before the key: image folders and standard sets were [0, 1] floats
                pixel_max=d.get("pixel_max", 255 if d.get("image_mode") else None),
                threads=d.get("threads"),
                torch_version=d.get("torch_version"),
                status=d.get("status"),
                epochs_done=d.get("epochs_done"),
                dlcli_version=d.get("dlcli_version", __version__),
                targets=d.get("targets"),
            )
        except InputError as exc:  # a field of the wrong type or out of range
            raise InputError(f"{where}: damaged run config: {exc}") from None
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InputError(f"{where}: incomplete or damaged run config ({exc!r})") from None

    def save(self, folder: Path, status: str) -> None:
        """Set the run's status and (re)write folder/config.json."""
        self.status = status
        write_json(folder / CONFIG, self.to_dict())

    def build_model(self, init: dict[str, Any] | None = None) -> nn.Module:
        """The family's model for this run; `init` (train time only) goes to the builder as
        keyword arguments (lstm: `embeddings`, a pretrained table; see `Dataset.init`)."""
        family = get_family(self.model)
        check_model_size(
            self.model,
            self.model_config,
            self.input_shape,
            self.outputs,
            self.train.batch_size,
        )
        return family.build(self.model_config, self.input_shape, self.outputs, **(init or {}))

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """Raw samples (N, *sample_shape) -> standardised as in training, in the model's layout
        (float32; uint8 pixels divided by `pixel_max` first; token ids stay integers). The
        numpy twin of `engine.batches.converter`, which does the same per batch on the device."""
        import numpy as np

        if x.dtype.kind in "iu" and not (self.pixel_max and x.dtype == np.uint8):
            return np.ascontiguousarray(to_layout(x, self.layout))  # token ids stay integers
        x = as_model_values(x, self.pixel_max)
        x = self.standardizer(x) if self.standardizer else x
        return np.ascontiguousarray(to_layout(x, self.layout))


MAX_SAMPLE_VALUES = 1 << 31  # per sample: far beyond any model dlcli trains


def _check_shape(shape: Any, name: str, where: Path) -> None:
    """A per-sample shape from config.json: a list of positive integers of a sane total."""
    ok = isinstance(shape, list) and 0 < len(shape) <= 4
    ok = ok and all(type(n) is int and n > 0 for n in shape)
    if ok:
        total = 1
        for n in shape:
            total *= n
        ok = total <= MAX_SAMPLE_VALUES
    if not ok:
        text = repr(shape) if len(repr(shape)) <= 40 else repr(shape)[:37] + "..."
        raise InputError(
            f"{where}: damaged run config: '{name}' is {text}, not a list of up to 4 positive "
            f"sizes of at most {MAX_SAMPLE_VALUES} values in all"
        )


def _finite(value: Any) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))


# config.json's own fields (beside the sections and shapes): (JSON types, None allowed)
FIELD_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "model": ((str,), False),
    "layout": ((str,), False),
    "class_names": ((list,), False),
    "feature_names": ((list,), True),
    "image_mode": ((str,), True),
    "pixel_max": ((int,), True),
    "threads": ((int,), True),
    "torch_version": ((str,), True),
    "status": ((str,), True),
    "epochs_done": ((int,), True),
}


def _check_fields(d: dict[str, Any], where: Path) -> None:
    """Each of config.json's own fields has its JSON type (no bool for an int), and the class
    names are at least one string each."""
    for name, (types, optional) in FIELD_TYPES.items():
        value = d.get(name)
        if value is None and optional:
            continue
        if type(value) not in types:
            text = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise InputError(f"{where}: damaged run config: '{name}' is {text}")
    names = d["class_names"]
    regression = isinstance(d.get("targets"), dict)  # a regression run has no classes
    if (not names and not regression) or not all(type(n) is str for n in names):
        raise InputError(f"{where}: damaged run config: 'class_names' must be a list of names")
    if not all(type(n) is str for n in d.get("feature_names") or []):
        raise InputError(f"{where}: damaged run config: 'feature_names' must be a list of names")


def _check_standardize(document: Any, where: Path) -> None:
    """config.json's standardisation: None, or a shape and as many finite means and positive
    finite standard deviations (a std of 0 would make every prediction NaN)."""
    if document is None:
        return
    shape: list[Any] = []
    if isinstance(document, dict) and isinstance(document.get("shape"), list):
        shape = document["shape"]
    ok = 0 < len(shape) <= 4
    ok = ok and all(type(n) is int and 0 < n <= MAX_SAMPLE_VALUES for n in shape)
    count = math.prod(shape) if ok else 0
    for key, low in (("mean", -math.inf), ("std", 0.0)):
        values = document.get(key) if ok else None
        ok = ok and isinstance(values, list) and len(values) == count
        ok = ok and isinstance(values, list) and all(_finite(v) and v > low for v in values)
        if not ok:
            what = "positive finite numbers" if key == "std" else "finite numbers"
            raise InputError(
                f"{where}: damaged run config: 'standardize' needs a shape and {count or 'its'} "
                f"{key} values, {what}"
            )


def _check_targets(document: Any, where: Path) -> None:
    """config.json's regression targets: None, or names with as many finite means and positive
    finite standard deviations."""
    if document is None:
        return
    names = document.get("names") if isinstance(document, dict) else None
    ok = isinstance(names, list) and bool(names) and all(type(n) is str for n in names)
    for key, low in (("mean", -math.inf), ("std", 0.0)):
        values = document.get(key) if ok else None
        ok = ok and isinstance(values, list) and len(values) == len(names or [])
        ok = ok and isinstance(values, list) and all(_finite(v) and v > low for v in values)
    if not ok:
        raise InputError(
            f"{where}: damaged run config: 'targets' needs names and as many finite means and "
            "positive finite standard deviations"
        )


def read_spec(run: Path) -> tuple[RunSpec, dict[str, Any]]:
    """(spec, config.json as read) of a run folder. The spec is the run's config; the dict is
    for display only (nothing writes it back)."""
    run = Path(run)
    if not run.is_dir():
        raise InputError(f"run folder '{run}' not found")
    raw = read_json(run / CONFIG)
    return RunSpec.from_dict(raw, run / CONFIG), raw


def make_spec(
    model: str,
    model_config: Any,
    data: DataConfig,
    train: TrainConfig,
    dataset: Dataset,
) -> RunSpec:
    """A new run's spec (no standardiser yet: `prepare` fits it on the train split)."""
    import torch

    layout = get_family(model).layout_for(model_config, dataset.sample_shape)
    if stored_per_batch(dataset.x, dataset.pixel_max):  # converted to float32 per batch
        input_shape = layout_shape(dataset.sample_shape, layout)
    else:  # raises if the data cannot take this layout
        input_shape = to_layout(dataset.x[:1], layout).shape[1:]
    return RunSpec(
        model=model,
        model_config=model_config,
        data=data,
        train=train,
        layout=layout,
        input_shape=tuple(int(d) for d in input_shape),
        sample_shape=dataset.sample_shape,
        class_names=dataset.class_names,
        standardizer=None,
        feature_names=dataset.feature_names,
        image_mode=dataset.image_mode,
        pixel_max=dataset.pixel_max,
        torch_version=torch.__version__,
        # regression: the names now, the statistics when `prepare` has the training split
        targets={"names": list(dataset.target_names)} if train.regression else None,
    )


@dataclass
class Prepared:
    """The splits, each either preprocessed (numpy float32 / token ids in the model's layout) or
    `Rows` of the stored array (uint8 pixels, a memory map: converted per batch by
    `batches.Inputs`); labels int64."""

    x_train: np.ndarray | Rows
    y_train: np.ndarray
    x_val: np.ndarray | Rows
    y_val: np.ndarray
    x_test: np.ndarray | Rows
    y_test: np.ndarray


def run_split(spec: RunSpec, dataset: Dataset, seed: int) -> Split:
    """The run's seeded split of `dataset`: stratified by class; regression's is one stratum."""
    data, stratified = spec.data, not spec.train.regression
    return split_indices(
        dataset.y, data.test_fraction, data.val_fraction, seed, dataset.fixed_test, stratified
    )


def prepare(dataset: Dataset, spec: RunSpec, seed: int) -> Prepared:
    """Split, standardise with the train split's statistics (fitted here unless the spec has
    them already; one streaming pass), and reshape to the model's layout: up front for arrays
    in memory, per batch for stored ones (`data.stored_per_batch`), which are not copied."""
    task = spec.task
    split = run_split(spec, dataset, seed)
    if isinstance(task, Regression) and not task.std:  # fitted on the training targets
        task = task.fitted(dataset.y[split.train])
        spec.targets = task.to_dict()
    per_batch = stored_per_batch(dataset.x, spec.pixel_max)
    if (
        spec.standardizer is None
        and spec.data.standardize
        and (dataset.x.dtype.kind == "f" or per_batch)
    ):
        spec.standardizer = Standardizer.fit(dataset.x, split.train, spec.pixel_max)

    def part(idx):  # targets as the model learns them (regression: standardised)
        if per_batch:
            return Rows(dataset.x, idx), task.encode(dataset.y[idx])
        return spec.preprocess(dataset.x[idx]), task.encode(dataset.y[idx])

    (xtr, ytr), (xva, yva), (xte, yte) = part(split.train), part(split.val), part(split.test)
    return Prepared(xtr, ytr, xva, yva, xte, yte)


def load_data(model: str, model_config: Any, data: DataConfig, train: TrainConfig) -> Dataset:
    """The family's data, as the run's task learns it (`tasks.adapt`: regression targets as
    numbers, or one clear line where the target does not fit the loss)."""
    dataset = load_family_data(model, model_config, data, train.seed, train.regression)
    return adapt(dataset, train.loss)


def load_own_data(spec: RunSpec, then: str = "") -> Dataset:
    """The run's own data, reloaded as it trained on it; one line (ending with `then`, what
    to do instead) where its classes, targets or sample shape have changed since."""
    dataset = load_data(spec.model, spec.model_config, spec.data, spec.train)
    names = (spec.targets or {}).get("names", [])
    if (
        dataset.class_names != spec.class_names
        or dataset.sample_shape != spec.sample_shape
        or (spec.train.regression and dataset.target_names != names)
    ):
        raise InputError(
            f"the run's data '{spec.data.source}' has changed since training "
            f"(classes, targets or sample shape differ){then}"
        )
    return dataset


def load_split(spec: RunSpec) -> tuple[Dataset, Prepared]:
    """Reload a run's data and recompute its split exactly (evaluate, resume)."""
    dataset = load_own_data(spec, "; give the data to use with --data")
    return dataset, prepare(dataset, spec, spec.train.seed)

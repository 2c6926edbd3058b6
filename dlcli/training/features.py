"""`features`: a trained run's penultimate-layer activations, the inputs of its classifier.

The classifier layer is the model's last `nn.Linear` (the last one registered): resnet's `fc`
after global average pooling, the final linear layer of mlp and cnn (its input is the last
hidden layer's output after its activation, or the flattened input itself with `--hidden 0`),
lstm's `fc` on the final hidden state, and a custom model's last `nn.Linear`. A forward
pre-hook on it records its input chunk by chunk, in eval mode, with the run's preprocessing and
precision, so `features @ W.T + b` are the scores `predict` turns into probabilities.

Inputs come in `predict`'s order (`evaluate.read_inputs`), labelled data as `evaluate --data`
reads it, and the run's own data through its own seeded split. Labelled features are written as
an .npz that `dlcli train --data` reads (`x` float32, `y` labels, `classes`): `y` keeps the
class names where their sorted order (`class_names_of`) is the run's class order, else it holds
the class indices, so that `train --data FEATS.npz` with the run's --seed and fractions makes
the same split as the run did (its test part is data the network never trained on); the rows
of an official test set (the named datasets', an .npz's `test`) are written as `test`, which
`train --data` keeps as its test split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError
from dlcli.files import atomic_write, refuse_special
from dlcli.training.data.dataset import class_names_of
from dlcli.training.engine.batches import Inputs, inputs_for
from dlcli.training.engine.metrics import EVAL_BATCH
from dlcli.training.engine.precision import autocast
from dlcli.training.evaluate import labelled_data, load_labelled, load_run, read_inputs
from dlcli.training.runs.spec import load_own_data, run_split

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from dlcli.training.runs.spec import RunSpec

SPLITS = ("train", "val", "test", "all")


@dataclass
class FeatureSet:
    """`features`' result; `to_dict()` is `dlcli features --json` (the arrays left out)."""

    run: str
    model: str
    layer: str  # the classifier layer whose input the features are, e.g. "fc" or "7"
    source: str  # the inputs, or the data source (and split)
    split: str | None  # train | val | test | all for labelled data, None for inputs
    n: int
    shape: list[int]
    dtype: str
    path: str | None  # the file written, None if none was
    classes: list[str] | None = None  # the run's class names (labelled data)
    features: np.ndarray | None = field(default=None, repr=False)  # (N, F) float32
    # class name per row (data); a regression run's targets (N, T) in their own units
    labels: list[str] | np.ndarray | None = field(default=None, repr=False)
    names: list[str] | None = field(default=None, repr=False)  # input name per row (inputs)

    def to_dict(self) -> dict[str, Any]:
        keys = ("run", "model", "layer", "source", "split", "n", "shape", "dtype", "path")
        return {k: getattr(self, k) for k in keys}


def classifier_layer(model: nn.Module) -> tuple[str, nn.Linear]:
    """(name, module) of the model's last registered `nn.Linear`; an InputError if none."""
    from torch import nn

    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise InputError(
            f"the run's model ({type(model).__name__}) has no nn.Linear layer, so it has no "
            "classifier input to extract"
        )
    return linears[-1]


def features_of(model: nn.Module, x: torch.Tensor | Inputs) -> torch.Tensor:
    """The input of `classifier_layer(model)` for every sample, (N, F) float32 on the CPU, in
    eval mode and fixed-size chunks as `metrics.scores_of` scores them."""
    import torch

    _, layer = classifier_layer(model)
    seen: list[torch.Tensor] = []

    def record(module: nn.Module, args: tuple[Any, ...]) -> None:
        seen.append(args[0])

    handle = layer.register_forward_pre_hook(record)
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            chunks = (
                (x[i : i + EVAL_BATCH] for i in range(0, len(x), EVAL_BATCH))
                if isinstance(x, torch.Tensor)
                else x.chunks(EVAL_BATCH)
            )
            for chunk in chunks:
                seen.clear()
                model(chunk)
                if not seen:
                    raise InputError("the model's last nn.Linear was not called in its forward")
                out.append(seen[-1].float().reshape(len(chunk), -1).cpu())  # (B, F)
    finally:
        handle.remove()
    if not out:
        return torch.zeros((0, layer.in_features))
    return torch.cat(out)


def extract(
    run: Path,
    inputs: list[str] | None = None,
    data: str | None = None,
    split: str = "all",
    target: str | None = None,
    output: Path | None = None,
    device: str = "auto",
) -> FeatureSet:
    """Penultimate-layer features of INPUTS (an (N, F) array, `predict`'s order) or of labelled
    DATA (features with labels); written to `output` (.npy for inputs, .npz for data)."""
    import numpy as np

    if (inputs is None) == (data is None):
        raise InputError("give either INPUT... or --data, not both or neither")
    if split not in SPLITS:
        raise InputError(f"invalid --split '{split}': expected one of {', '.join(SPLITS)}")
    if output is not None:
        _check_output(Path(output), ".npz" if data is not None else ".npy")
    loaded = load_run(run, device)
    spec = loaded.spec
    labels: list[str] | np.ndarray | None = None
    names: list[str] | None = None
    test_rows = None
    if data is None:
        assert inputs is not None
        if not inputs:
            raise InputError("no inputs given")
        names, raw = read_inputs(spec, inputs)
        source = " ".join(inputs)
        split_name = None
    else:
        raw, labels, source, test_rows = _labelled(spec, data, split, target)
        split_name = split
    xt = inputs_for(spec, raw, loaded.device, raw=True)
    with autocast(spec.train.precision, loaded.device):
        feats = features_of(loaded.model, xt).numpy().astype(np.float32, copy=False)
    layer, _ = classifier_layer(loaded.model)
    if output is not None:
        _write(Path(output), feats, labels, spec.class_names, test_rows)
    return FeatureSet(
        run=str(run),
        model=spec.model,
        layer=layer,
        source=source,
        split=split_name,
        n=int(len(feats)),
        shape=[int(d) for d in feats.shape],
        dtype=str(feats.dtype),
        path=None if output is None else str(output),
        classes=list(spec.class_names) if labels is not None else None,
        features=feats,
        labels=labels,
        names=names,
    )


def _labelled(
    spec: RunSpec, data: str, split: str, target: str | None
) -> tuple[np.ndarray, list[str] | np.ndarray, str, np.ndarray | None]:
    """(raw samples, class name per sample (regression: targets (N, T)), source, rows of an
    official test set or None) of
    --data: the run's own data through its seeded split, other data whole."""
    import numpy as np

    if data != spec.data.source:
        if split != "all":
            raise InputError(
                f"--split {split} picks a part of the run's own data '{spec.data.source}'; "
                f"other data ('{data}') is used whole: leave --split out"
            )
        if spec.train.regression:  # the target columns, in their own units
            return *labelled_data(spec, data, target), data, None
        raw, labels = load_labelled(spec, data, target)
        return raw, labels, data, None
    dataset = load_own_data(spec)
    test_rows = None
    if split == "all":
        index = np.arange(len(dataset.y), dtype=np.int64)
        if dataset.fixed_test is not None:  # kept, so a run on the features splits the same
            test_rows = np.unique(np.asarray(dataset.fixed_test, dtype=np.int64))
    else:
        index = getattr(run_split(spec, dataset, spec.train.seed), split)
    raw = np.asarray(dataset.x[index])
    if spec.train.regression:  # targets (N, T): the .npz trains a regression
        return raw, dataset.y[index], f"{data} ({split})", test_rows
    labels = [spec.class_names[i] for i in dataset.y[index].tolist()]
    return raw, labels, f"{data} ({split})", test_rows


def _check_output(path: Path, suffix: str) -> None:
    if path.suffix.lower() != suffix:
        what = "labelled features (--data)" if suffix == ".npz" else "features of INPUT..."
        raise InputError(f"{path}: {what} are written as {suffix}; name the output FILE{suffix}")
    if not path.parent.is_dir():
        raise InputError(f"{path}: folder '{path.parent}' does not exist")
    refuse_special(path)


def _write(
    path: Path,
    feats: np.ndarray,
    labels: list[str] | np.ndarray | None,
    classes: list[str],
    test_rows: np.ndarray | None,
) -> None:
    """x alone (.npy), or x, y, classes and (an official test set's rows) test (.npz,
    uncompressed: `train --data` maps it)."""
    import numpy as np

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.save would add a suffix to a name
            if labels is None:
                np.save(fh, feats)
                return
            if isinstance(labels, np.ndarray):  # regression targets (N, T)
                if test_rows is None:
                    np.savez(fh, x=feats, y=labels)
                else:
                    np.savez(fh, x=feats, y=labels, test=test_rows)
                return
            if class_names_of(labels) == [c for c in classes if c in set(labels)]:
                y = np.array(labels, dtype=str)  # sorted names keep the run's class order
            else:
                index = {name: i for i, name in enumerate(classes)}
                y = np.array([index[v] for v in labels], dtype=np.int64)
            names = np.array(classes, dtype=str)
            if test_rows is None:
                np.savez(fh, x=feats, y=y, classes=names)
            else:
                np.savez(fh, x=feats, y=y, classes=names, test=test_rows)

    atomic_write(path, write)

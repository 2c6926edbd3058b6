"""The library's training functions: what `dlcli train | evaluate | predict` do, from Python.

    >>> import dlcli
    >>> run = dlcli.train("mlp", epochs=5, hidden="64", out="runs/mine")   # doctest: +SKIP
    >>> run.test_accuracy, run.to_dict()["out"]                             # doctest: +SKIP
    >>> dlcli.evaluate("runs/mine").accuracy                                # doctest: +SKIP

`train(model, data, **knobs)` takes every knob of `dlcli train MODEL` by its option's name in
snake case (`batch_size=32`, `weight_decay=1e-3`, `hidden=(64,)` or `hidden="64"`); a knob left
out, or None, takes the library's default, which is what the CLI shows in its help: both read
`dlcli.training.config`, and `help(dlcli.train)` lists them all (the signature is generated
from the configs by `dlcli.signatures`). A list is what `dlcli.sweep` sweeps: `train` reads it
the same way, so a list of several values is an InputError naming the sweep to call. Results
have `.to_dict()`, the command's `--json` document.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dlcli.errors import InputError
from dlcli.signatures import training_knobs, with_knobs
from dlcli.training.config import DataConfig, TrainConfig
from dlcli.training.engine.callbacks import Callback
from dlcli.training.engine.run import RunResult
from dlcli.training.families import get_family

__all__ = ["Callback", "evaluate", "features", "predict", "resume", "split_knobs", "train"]


def _names(config_cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(config_cls) if f.metadata.get("cli", True)}


def split_knobs(model: str, knobs: dict[str, Any]) -> tuple[Any, DataConfig, TrainConfig]:
    """(model config, DataConfig, TrainConfig) from knobs by name; None means 'the default'."""
    family = get_family(model)
    config_cls = family.config_cls
    given = {k: v for k, v in knobs.items() if v is not None}
    own, data, loop = _names(config_cls), _names(DataConfig), _names(TrainConfig)
    unknown = sorted(set(given) - own - data - loop)
    if unknown:
        valid = ", ".join(sorted(own | data | loop))
        raise TypeError(f"train({model!r}): unknown knob(s) {', '.join(unknown)}; valid: {valid}")
    train_config = family.train_config(**{k: v for k, v in given.items() if k in loop})
    if "momentum" in given and train_config.optimizer != "sgd":
        raise InputError(
            f"--momentum applies to --optimizer sgd only; this run uses {train_config.optimizer}"
        )
    model_config = config_cls(**{k: v for k, v in given.items() if k in own})
    data_config = DataConfig(**{k: v for k, v in given.items() if k in data})
    return model_config, data_config, train_config


def train(
    model: str = "mlp",
    data: str | None = None,
    *,
    out: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    animate: bool = False,
    tensorboard: bool = False,
    **knobs: Any,
) -> RunResult:
    """Train model family `model` ('mlp', 'cnn', 'resnet', 'lstm') on `data` (a name such as
    'digits' or 'spiral:n=200', or a path) and write its run folder `out` (default:
    runs/MODEL-TIME). Progress goes to `callbacks` (see `dlcli.Callback`); nothing is printed.
    `animate=True` (2-D data only) also writes boundary.gif, the decision regions as they learn;
    `tensorboard=True` writes event files into RUN/tensorboard/ (the `tensorboard` extra)."""
    from dlcli.training.engine import setup

    data, knobs = _one_run(model, data, knobs)
    model_config, data_config, train_config = split_knobs(model, {"source": data, **knobs})
    if out is not None:  # a name dlcli cannot write is refused before any data is loaded
        from dlcli.outputs import check_output_folder

        out = check_output_folder(out, "--out")
    if animate:
        from dlcli.training.engine.animate import BoundaryAnimation, check_2d

        if train_config.regression:  # decision regions are a classifier's
            raise InputError(
                f"--animate draws a classifier's decision regions; --loss {train_config.loss} "
                "trains a regression"
            )
        dataset = check_2d(model, model_config, data_config, train_config.seed)
        callbacks = [*callbacks, BoundaryAnimation(dataset.x, dataset.y)]
    with _board(tensorboard, callbacks) as callbacks:
        return setup.train(
            model,
            model_config,
            data_config,
            train_config,
            Path(out) if out is not None else None,
            callbacks,
        )


@contextlib.contextmanager
def _board(tensorboard: bool, callbacks: Sequence[Callback]) -> Iterator[Sequence[Callback]]:
    """`callbacks`, plus the TensorBoard writer when asked for (closed whatever happens)."""
    if not tensorboard:
        yield callbacks
        return
    from dlcli.training.engine.tensorboard import TensorBoard

    board = TensorBoard()  # InputError naming the extra when tensorboard is missing
    try:
        yield [*callbacks, board]
    finally:
        board.close()


def _one_run(model: str, data: Any, knobs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The knobs of one run, read as `dlcli.sweep` reads them: a list is swept, so a list of one
    value (or of one value repeated) is that value, and one of several values is refused with
    the call that trains them all, rather than quietly read as something else (hidden=[3, 6]
    is not two hidden layers here: the sweep would make it two runs)."""
    from dlcli.training.sweep.plan import combinations

    swept, combos = combinations({"data": data, **knobs})
    if len(combos) > 1:
        given = ", ".join(f"{k}={knobs.get(k, data)!r}" for k in swept)
        raise InputError(
            f"dlcli.train({model!r}, {given}): a list is a sweep, one run per value: call "
            f"dlcli.sweep({model!r}, ..., {given}) to train them all; one value with several "
            "parts is a tuple or a string (hidden=(3, 6) or hidden='3,6')"
        )
    one = combos[0]
    return one.pop("data"), one


with_knobs(
    train,
    training_knobs(),
    "Knobs (keyword arguments, the options of `dlcli train MODEL` in snake case; left out or "
    "None: the library's default, shown here and in `dlcli train MODEL --help`):",
)


def resume(
    run_dir: str | Path,
    *,
    epochs: int | None = None,
    callbacks: Sequence[Callback] = (),
    animate: bool = False,
    tensorboard: bool = False,
) -> RunResult:
    """Continue a run from its last checkpoint with its own settings (`epochs`: a new total);
    `animate=True` draws boundary.gif from the epochs trained now; `tensorboard=True` appends
    the epochs trained now to RUN/tensorboard/."""
    from dlcli.training.engine import setup

    if animate:
        from dlcli.training.engine.animate import BoundaryAnimation, check_2d
        from dlcli.training.runs.spec import read_spec

        spec, _ = read_spec(Path(run_dir))
        dataset = check_2d(spec.model, spec.model_config, spec.data, spec.train.seed)
        callbacks = [*callbacks, BoundaryAnimation(dataset.x, dataset.y)]
    with _board(tensorboard, callbacks) as callbacks:
        return setup.resume(Path(run_dir), epochs, callbacks)


def evaluate(
    run_dir: str | Path,
    data: str | None = None,
    *,
    target: str | None = None,
    device: str = "auto",
) -> Any:
    """Accuracy, loss, per-class precision/recall and confusion matrix of a trained run, on
    `data` or (None) the run's own test split, which reproduces its `test_accuracy`."""
    from dlcli.training.evaluate import evaluate as backend

    return backend(Path(run_dir), data, target, device.lower())


def predict(
    run_dir: str | Path,
    inputs: str | Path | Sequence[str | Path],
    *,
    top: int = 1,
    device: str = "auto",
) -> Any:
    """Class and probability for each input (CSV rows, .npz samples, images, text lines)."""
    from dlcli.errors import InputError
    from dlcli.training.evaluate import predict as backend

    if top < 1:
        raise InputError(f"invalid --top {top}: expected at least 1")
    items = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    return backend(Path(run_dir), [str(i) for i in items], device.lower(), top)


def features(
    run_dir: str | Path,
    inputs: str | Path | Sequence[str | Path] | None = None,
    *,
    data: str | None = None,
    split: str = "all",
    target: str | None = None,
    output: str | Path | None = None,
    device: str = "auto",
) -> Any:
    """Penultimate-layer features (the input of the model's last nn.Linear) of `inputs`, in
    `predict`'s order, or of labelled `data` (the run's own data: its `split`, train, val, test
    or all). `.features` is the (N, F) float32 array, `.labels` the class names for data;
    `output` writes them (.npy for inputs; .npz with x, y and classes for data, which
    `dlcli train --data` reads)."""
    from dlcli.training.features import extract

    items = None
    if inputs is not None:
        items = [str(i) for i in ([inputs] if isinstance(inputs, str | Path) else inputs)]
    out = None if output is None else Path(output)
    return extract(Path(run_dir), items, data, split.lower(), target, out, device.lower())

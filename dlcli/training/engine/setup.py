"""Setting a run up: what `train` and `resume` build before the loop (`loop.fit`) takes over.

`train` resolves the device and its strategy (one process, or a rank under torchrun), loads
the data, writes nothing until the data and model are known good, picks the thread count, and
makes (and locks) the run folder; `resume` reads a run folder back (config.json, the newest
checkpoint), refuses a resume with nothing to do, and rebuilds the same data split and model.
Both hand `fit` a `Run`. The public entry is `dlcli.training.api` (`dlcli.train`, `dlcli.resume`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli import interrupts
from dlcli.errors import InputError
from dlcli.training.config import DataConfig, TrainConfig
from dlcli.training.data import Dataset
from dlcli.training.engine import distributed
from dlcli.training.engine.batches import inputs_for
from dlcli.training.engine.device import set_threads
from dlcli.training.engine.loop import fit
from dlcli.training.engine.precision import check_compile, check_precision
from dlcli.training.engine.run import Run, RunResult
from dlcli.training.families.blocks import apply_init
from dlcli.training.runs import checkpoint
from dlcli.training.runs.checkpoint import TrainState
from dlcli.training.runs.files import CHECKPOINT
from dlcli.training.runs.spec import (
    Prepared,
    RunSpec,
    load_data,
    load_split,
    make_spec,
    prepare,
    read_spec,
)
from dlcli.training.runs.state import (
    FINISHED,
    RunState,
    lock_run_dir,
    new_run_dir,
    remove_leftovers,
)
from dlcli.training.runs.state import run_state as read_state

if TYPE_CHECKING:
    import torch
    from torch import nn

    from dlcli.training.engine.callbacks import Callback


def train(
    model: str,
    model_config: Any,
    data: DataConfig,
    train_config: TrainConfig,
    out: Path | None = None,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train a registered model family from scratch; the run folder is `out` (or runs/NAME-TIME)."""
    import torch  # noqa: F401 (before the clock starts: `seconds` times the run, not the import)

    start = time.perf_counter()
    device, strategy = distributed.setup(train_config.device)
    _check_accelerators(train_config, device)
    dataset = load_data(model, model_config, data, train_config)  # as the task learns it
    spec = make_spec(model, model_config, data, train_config, dataset)
    prepared = prepare(dataset, spec, train_config.seed)
    if train_config.patience and len(prepared.y_val) == 0:
        raise InputError("--patience needs a validation split: give --val-fraction above 0")
    net = _fresh_model(spec, dataset)
    interrupts.raise_if_received()  # a signal during the imports above: start nothing
    # threads: given, or the rule of device.py, which times a batch of this model
    spec.threads = set_threads(train_config.threads, _batch_timer(net, prepared, spec, device))
    # only now, with the data and model known good; rank 0 names it (runs/MODEL-TIME) and holds
    # the writer's lock (runs/state.py)
    held: list[Any] = []

    def make_folder() -> str:
        folder, lock = new_run_dir(out, model)
        held.append(lock)
        return str(folder)

    folder = Path(strategy.from_main(make_folder))
    callbacks = callbacks if strategy.is_main else ()  # rank 0 alone reports progress
    with held[0] if held else contextlib.nullcontext():
        return fit(Run(folder, spec, dataset, prepared, device, strategy, callbacks, start), net)


def resume(run: Path, epochs: int | None = None, callbacks: Sequence[Callback] = ()) -> RunResult:
    """Continue a run from its last checkpoint (to `epochs` in all, if given). A run whose
    checkpoint has reached its epochs but that is not finished (killed while writing its
    results) is finished: weights, history, pictures and metrics, no training."""
    start = time.perf_counter()
    folder = Path(run)
    if not folder.is_dir():
        raise InputError(f"run folder '{folder}' not found")
    main = distributed.is_main()  # rank 0 alone holds the lock and tidies the folder
    with lock_run_dir(folder) if main else contextlib.nullcontext():
        if main:
            remove_leftovers(folder)
        spec, _ = read_spec(folder)
        state = read_state(folder)
        if epochs is not None:
            spec.train.epochs = epochs
        saved = checkpoint.load(folder)
        if saved is not None:
            _check_resumable(folder, spec, state, saved.state, epochs)
        elif state.state == FINISHED:
            raise InputError(
                f"run '{folder}' is finished and has no checkpoint to continue from "
                f"({CHECKPOINT} was deleted)"
            )
        device, strategy = distributed.setup(spec.train.device)
        _check_accelerators(spec.train, device)
        set_threads(spec.threads)
        dataset, prepared = load_split(spec)
        net = _fresh_model(spec, dataset)
        callbacks = callbacks if strategy.is_main else ()
        return fit(
            Run(folder, spec, dataset, prepared, device, strategy, callbacks, start), net, saved
        )


def _check_resumable(
    folder: Path, spec: RunSpec, state: RunState, saved: TrainState, epochs: int | None
) -> None:
    """Refuse a resume with nothing to do; a run not finished is always finished."""
    done = saved.epoch
    if state.state == FINISHED:
        if saved.stopped_early:
            raise InputError(
                f"run '{folder}' stopped early at epoch {done} "
                f"(--patience {spec.train.patience}); there is nothing to resume"
            )
        if done >= spec.train.epochs:
            raise InputError(
                f"run '{folder}' has already trained {done} epochs; "
                f"give --epochs above {done} to train on"
            )
    elif epochs is not None and epochs < done:
        raise InputError(
            f"run '{folder}' has trained {done} epochs but is not finished; give --epochs "
            f"{done} or more (or leave --epochs out) to finish it"
        )
    elif epochs is None and done > spec.train.epochs:
        spec.train.epochs = done


def _fresh_model(spec: RunSpec, dataset: Dataset) -> nn.Module:
    """The model as a run starts it: seeded, built, initialised (resume then loads weights)."""
    import torch

    torch.manual_seed(spec.train.seed)
    net = spec.build_model(dataset.init)
    apply_init(net, spec.train.init)
    return net


def _check_accelerators(cfg: TrainConfig, device: torch.device) -> None:
    """--precision and --compile where this device can run them, else one line (exit 2)."""
    check_precision(cfg.precision, device)
    if cfg.compile:
        check_compile(device)


def _batch_timer(
    net: nn.Module, data: Prepared, spec: RunSpec, device: torch.device
) -> Callable[[], float] | None:
    """Seconds of one batch's forward pass in eval mode (no effect on the run's numbers), for
    the default thread rule; None off the CPU."""
    import torch

    def seconds() -> float:
        # the first batch as the model sees it (stored uint8 rows are converted, as in training)
        x = next(inputs_for(spec, data.x_train, device).chunks(spec.train.batch_size))
        net.eval()
        with torch.no_grad():
            times = []
            for _ in range(3):  # the first warms up
                t0 = time.perf_counter()
                net(x)
                times.append(time.perf_counter() - t0)
        return min(times[1:])

    return seconds if device.type == "cpu" else None

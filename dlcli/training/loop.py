"""THE training loop: one for every model family.

`train` and `resume` set a run up (device, threads, data, model, run folder) and hand it to
`fit`, which reads top to bottom: restore the checkpoint if resuming, then per epoch train on
shuffled batches (`_train_epoch`), measure the validation split, record the epoch in the
`TrainState`, snapshot it, tell the callbacks, and save the checkpoint; at the end `_finish`
scores every split and writes the run folder. Batches are slices of tensors already on the
device (no DataLoader). Progress goes out through `Callback` hooks (Keras style), so the loop
never prints; a callback may ask it to stop (`stop_training`).

Data-parallel training (DDP under torchrun, distributed.py) touches the loop in a few marked
places: `_epoch_order` takes this rank's share of every global batch, `_reduce` all-reduces the
epoch's sums, `fit` wraps the model and scores validation in shares, and rank 0 alone calls the
callbacks, checkpoints and writes the run folder (`dist.is_main()`); the others receive its result.

    spec.py        the run's config (config.json) and the split it trains on
    checkpoint.py  TrainState (the checkpoint's metadata) and the checkpoint's tensors
    run_dir.py     the run folder's files;  device.py: device and threads
    metrics.py     losses, scores, (loss, accuracy) of a split;  plots.py: the pictures
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from dlcli import interrupts
from dlcli.errors import InputError, RunFailure
from dlcli.training import distributed as dist
from dlcli.training import run_dir as rd
from dlcli.training.batches import Inputs, inputs_for
from dlcli.training.checkpoint import Checkpoint, TrainState, capture, restore
from dlcli.training.checkpoint import load as load_checkpoint
from dlcli.training.config import DataConfig, TrainConfig
from dlcli.training.data import Dataset
from dlcli.training.device import (
    autocast,
    check_compile,
    check_precision,
    compiled,
    grad_scaler,
    resolve_device,
    set_threads,
)
from dlcli.training.distributed import Share
from dlcli.training.families import get_family, load_family_data
from dlcli.training.families.blocks import apply_init
from dlcli.training.metrics import loss_function, measure, multiclass_hinge, scores_of
from dlcli.training.spec import Prepared, RunSpec, load_split, make_spec, prepare, read_spec

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [  # the names callers use (and those kept here for them since the split into modules)
    "Callback",
    "RunResult",
    "RunSpec",
    "TrainConfig",
    "fit",
    "load_split",
    "loss_function",
    "make_optimizer",
    "measure",
    "multiclass_hinge",
    "read_spec",
    "resolve_device",
    "resume",
    "scores_of",
    "set_threads",
    "train",
]

CHECKPOINT_SECONDS = 1.0  # the longest a finished epoch waits in memory before it is on disk


class Callback:
    """Progress hooks, Keras style: the loop calls them, the CLI (or any caller) implements them.
    All are optional; `epoch` counts from 0.

        on_train_begin(info)         model, params, device, out, epochs, first_epoch, batches,
                                     n_train, n_val, n_test, input_shape, classes, layers, notes
        on_epoch_begin(epoch, logs)  batches, epochs
        on_batch_end(batch, logs)    batch (from 1), batches, loss (called only if overridden)
        on_epoch_end(epoch, logs)    the history row (epoch, loss, accuracy, val_loss,
                                     val_accuracy, seconds), epochs, improved
        on_train_end(logs)           the result: `RunResult.to_dict()`

    Before `on_train_begin` the loop sets `self.model` to the network being trained (Keras
    style), for callbacks that look at it (`--animate` draws its decision regions).

    To stop training, a hook sets `self.stop_training = True`. The loop looks after each epoch
    (after `on_epoch_end`): it saves the checkpoint and finishes normally with the epochs done
    (weights, metrics, `on_train_end`; the result's `epochs` counts them). The run stays
    resumable: `resume` trains on to its epoch total. The loop sets the flag back to False when
    training begins. (`stopped_early` in the result means --patience ran out, not this.)
    """

    stop_training: bool = False

    def on_train_begin(self, info: dict[str, Any]) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None: ...
    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None: ...
    def on_train_end(self, logs: dict[str, Any]) -> None: ...


@dataclass
class RunResult:
    """The outcome of a run; `to_dict()` is the `--json` document (and metrics.json)."""

    model: str
    data: str
    epochs: int
    best_epoch: int
    stopped_early: bool
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    test_loss: float | None
    test_accuracy: float | None
    params: int
    seconds: float
    out: str
    device: str
    n_train: int
    n_val: int
    n_test: int
    classes: list[str] = field(default_factory=list)
    data_info: dict[str, Any] = field(default_factory=dict)  # e.g. vocabulary, coverage

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Run:
    """One run being trained: what `fit` and its helpers share."""

    folder: Path
    spec: RunSpec  # the run's config, written to folder/config.json
    dataset: Dataset  # as loaded (the decision-region plot draws its points)
    data: Prepared  # the split, preprocessed
    device: torch.device
    callbacks: Sequence[Callback]
    start: float  # time.perf_counter() when the command began


# --- setting a run up ---------------------------------------------------------------------------


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
    device = dist.setup(train_config.device)
    _check_accelerators(train_config, device)
    dataset = load_family_data(model, model_config, data, train_config.seed)
    spec = make_spec(model, model_config, data, train_config, dataset)
    prepared = prepare(dataset, spec, train_config.seed)
    if train_config.patience and len(prepared.y_val) == 0:
        raise InputError("--patience needs a validation split: give --val-fraction above 0")
    net = _fresh_model(spec, dataset)
    interrupts.raise_if_received()  # a signal during the imports above: start nothing
    # threads: given, or the rule of device.py, which times a batch of this model
    spec.threads = set_threads(train_config.threads, _batch_timer(net, prepared, spec, device))
    # only now, with the data and model known good; rank 0 names it (runs/MODEL-TIME) and holds
    # the writer's lock (see run_dir: states, locks, leftovers)
    held: list[Any] = []

    def make_folder() -> str:
        folder, lock = rd.new_run_dir(out, model)
        held.append(lock)
        return str(folder)

    folder = Path(dist.from_main(make_folder))
    callbacks = callbacks if dist.is_main() else ()  # rank 0 alone reports progress
    with held[0] if held else contextlib.nullcontext():
        return fit(Run(folder, spec, dataset, prepared, device, callbacks, start), net)


def resume(run: Path, epochs: int | None = None, callbacks: Sequence[Callback] = ()) -> RunResult:
    """Continue a run from its last checkpoint (to `epochs` in all, if given). A run whose
    checkpoint has reached its epochs but that is not finished (killed while writing its
    results) is finished: weights, history, pictures and metrics, no training."""
    start = time.perf_counter()
    folder = Path(run)
    if not folder.is_dir():
        raise InputError(f"run folder '{folder}' not found")
    with rd.lock_run_dir(folder) if dist.launched_as_main() else contextlib.nullcontext():
        if dist.launched_as_main():
            rd.remove_leftovers(folder)
        spec, _ = read_spec(folder)
        state = rd.run_state(folder)
        if epochs is not None:
            spec.train.epochs = epochs
        checkpoint = load_checkpoint(folder)
        if checkpoint is not None:
            _check_resumable(folder, spec, state, checkpoint.state, epochs)
        elif state.state == rd.FINISHED:
            raise InputError(
                f"run '{folder}' is finished and has no checkpoint to continue from "
                f"({rd.CHECKPOINT} was deleted)"
            )
        device = dist.setup(spec.train.device)
        _check_accelerators(spec.train, device)
        set_threads(spec.threads)
        dataset, prepared = load_split(spec)
        net = _fresh_model(spec, dataset)
        callbacks = callbacks if dist.is_main() else ()
        return fit(Run(folder, spec, dataset, prepared, device, callbacks, start), net, checkpoint)


def _check_resumable(
    folder: Path, spec: RunSpec, state: rd.RunState, saved: TrainState, epochs: int | None
) -> None:
    """Refuse a resume with nothing to do; a run not finished is always finished."""
    done = saved.epoch
    if state.state == rd.FINISHED:
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


def _batch_timer(net: nn.Module, data: Prepared, spec: RunSpec, device) -> Any:
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


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    import torch

    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- the loop -----------------------------------------------------------------------------------


def fit(run: Run, net: nn.Module, checkpoint: Checkpoint | None = None) -> RunResult:
    """Train `net` for the run's epochs (on from `checkpoint` when resuming), then finish the run
    folder. Ctrl-C saves the last finished epoch and re-raises with one line saying so."""
    cfg = run.spec.train
    net = dist.sync_batchnorm(net.to(run.device))  # CUDA under DDP only
    opt = make_optimizer(net, cfg)
    state, best = TrainState(), None  # best: the best epoch's weights (kept with --patience)
    if checkpoint is not None:
        best = restore(checkpoint, net, opt, run.device)
        state = checkpoint.state
    train_split = _on_device(run, run.data.x_train, run.data.y_train)
    val_split = _on_device(run, run.data.x_val, run.data.y_val)
    if dist.is_main():
        run.spec.save(run.folder, "running")
    _begin(run, net, state)
    saver = _Checkpointer(run.folder, run.device, enabled=dist.is_main())
    last = state.epoch if state.stopped_early else cfg.epochs  # resuming a finished training
    model = dist.wrap(net, run.device)  # DDP under torchrun (the one that trains), else net
    model = compiled(model, cfg.compile)  # --compile
    scaler = grad_scaler(cfg.precision, run.device)  # --precision 16-mixed
    try:
        for epoch in range(state.epoch, last):
            interrupts.raise_if_received()  # one that something swallowed on its way
            t0 = time.perf_counter()
            for cb in run.callbacks:
                cb.on_epoch_begin(epoch, {"batches": _batches(run), "epochs": cfg.epochs})
            loss, accuracy = _train_epoch(run, model, opt, train_split, epoch, scaler)
            if not math.isfinite(loss):
                _diverged(run, epoch, loss)
            with autocast(cfg.precision, run.device):  # DDP: scored in shares
                val_loss, val_accuracy = dist.measure(net, *val_split, cfg.loss)
            row = {"epoch": epoch + 1, "loss": loss, "accuracy": accuracy}
            row |= {"val_loss": val_loss, "val_accuracy": val_accuracy}
            row["seconds"] = time.perf_counter() - t0
            improved = state.record(row, cfg.patience)
            if improved and cfg.patience:
                best = {k: v.detach().clone() for k, v in net.state_dict().items()}
            saver.snapshot(net, opt, best, state)
            for cb in run.callbacks:
                cb.on_epoch_end(epoch, row | {"epochs": cfg.epochs, "improved": improved})
            stop = state.stopped_early or dist.any_rank(_stop_requested(run.callbacks))
            saver.save(final=stop or state.epoch == cfg.epochs)
            if stop:
                break
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (dlcli.interrupts.Terminated)
        _save_and_stop(run, saver, state, exc)
    except RuntimeError as exc:  # under DDP: a rank died, or a collective timed out
        if isinstance(exc, RunFailure) or not dist.peer_lost(exc):
            raise
        _save_and_stop(run, saver, state, lost=exc)
    if cfg.patience and best is not None:
        net.load_state_dict(best)  # restore the best validation loss
    try:  # the checkpoint holds every epoch now: an interrupted finish is finished by --resume
        # rank 0 scores the splits and writes the folder; every rank returns its result
        with autocast(cfg.precision, run.device):  # the run's precision, as evaluate scores
            result = RunResult(**dist.from_main(lambda: _finish(run, net, state).to_dict()))
    except KeyboardInterrupt as exc:
        _interrupted(run, state, exc, finishing=True)
    dist.teardown(sync=True)  # every rank has the result: leave the process group together
    for cb in run.callbacks:
        cb.on_train_end(result.to_dict())
    return result


def _train_epoch(
    run: Run, net: nn.Module, opt: torch.optim.Optimizer, split: tuple, epoch: int, scaler=None
) -> tuple[float, float]:
    """One pass over the training split in a fresh seeded order: (mean loss, accuracy)."""
    import torch

    cfg = run.spec.train
    loss_fn = loss_function(cfg.loss)
    hooks = [cb for cb in run.callbacks if _overrides(cb, "on_batch_end")]
    x, y = split
    batches = _batches(run)
    net.train()
    order, shares = _epoch_order(len(y), cfg.batch_size, cfg.seed, epoch, run.device)
    ys = y[order]  # one gather per epoch, then views
    losses, hits = [], []  # per batch; summed once at the end of the epoch
    inputs = x.batches(order, [(s.start, s.stop) for s in shares])  # batches.Inputs
    for b, (share, xb) in enumerate(zip(shares, inputs, strict=True)):
        if cfg.lr_schedule != "constant":  # a function of the step alone: resume needs no state
            for group in opt.param_groups:
                group["lr"] = cfg.lr_at(epoch * batches + b, cfg.epochs * batches)
        yb = ys[share.start : share.stop]
        with autocast(cfg.precision, run.device):  # --precision (32: no-op)
            scores = net(xb)  # (B, C)
            loss = loss_fn(scores, yb)
        opt.zero_grad(set_to_none=True)
        # DDP averages gradients over ranks: scaled, they are the whole batch's mean
        scaled = loss if share.weight is None else loss * share.weight
        if scaler is None:
            scaled.backward()
            opt.step()
        else:  # float16: scale the loss, skip steps whose gradients overflowed
            scaler.scale(scaled).backward()
            scaler.step(opt)
            scaler.update()
        with torch.no_grad():
            losses.append(loss.detach())
            hit = (scores.argmax(1) == yb).sum()
            hits.append(hit if share.count else hit * 0)  # DDP: a share counted by rank 0
        if hooks:
            logs = {"batch": b + 1, "batches": batches, "loss": float(loss.detach())}
            for cb in hooks:
                cb.on_batch_end(b, logs)
    # examples per batch (this rank's under DDP; the last batch may be short)
    sizes = torch.tensor([s.count for s in shares], dtype=torch.float64, device=run.device)
    sums = torch.stack(
        [
            (torch.stack(losses).double() * sizes).sum(),  # loss summed over examples
            torch.stack(hits).sum().double(),  # correct predictions
            sizes.sum(),  # examples
        ]
    )
    loss_sum, correct, seen = _reduce(sums)
    return loss_sum / seen, correct / seen


def _epoch_order(
    n: int, batch_size: int, seed: int, epoch: int, device
) -> tuple[torch.Tensor, list[Share]]:
    """A fresh permutation per epoch from (seed, epoch) alone, so a resumed run shuffles alike,
    and where each batch lies in it. Under DDP every rank draws the same permutation and keeps
    its share of each global batch (`dist.shares`)."""
    import torch

    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    dist.seed_epoch(seed, epoch)
    order, shares = dist.shares(torch.randperm(n, generator=g), batch_size)
    return order.to(device), shares


def _reduce(sums: torch.Tensor) -> list[float]:
    """Epoch totals -> Python numbers, summed over ranks under DDP."""
    return dist.all_reduce_sums(sums).tolist()


class _Checkpointer:
    """Every epoch ends with a snapshot of the state in memory (cheap); it goes to disk at most
    every CHECKPOINT_SECONDS, and always after the run's last epoch and on Ctrl-C, so that small
    fast epochs do not pay a file write each (a hard kill loses at most those seconds).
    """

    def __init__(self, folder: Path, device: torch.device, enabled: bool = True) -> None:
        self.folder, self.device, self.enabled = folder, device, enabled  # DDP: rank 0 alone
        self.pending: tuple[dict, dict] | None = None  # (tensors, metadata) not yet on disk
        self.last_write = time.perf_counter()

    def snapshot(self, net: nn.Module, opt, best: dict | None, state: TrainState) -> None:
        if self.enabled:
            self.pending = capture(net, opt, best, state, self.device)

    def save(self, final: bool) -> None:
        """Write the snapshot if it is due, or if `final` (the run's last epoch, Ctrl-C)."""
        if self.pending is None:
            return
        if final or time.perf_counter() - self.last_write >= CHECKPOINT_SECONDS:
            rd.save_checkpoint(self.folder, *self.pending)
            self.pending, self.last_write = None, time.perf_counter()


# --- hooks and endings --------------------------------------------------------------------------


def _begin(run: Run, net: nn.Module, state: TrainState) -> None:
    """Reset the callbacks' stop flags and call `on_train_begin`."""
    spec, data = run.spec, run.data
    family = get_family(spec.model)
    layers = (
        family.describe(spec.model_config, spec.input_shape, len(spec.class_names))
        if family.describe
        else []
    )
    info = {
        "model": spec.model,
        "params": count_params(net),
        "device": str(run.device),
        "out": str(run.folder),
        "epochs": spec.train.epochs,
        "first_epoch": state.epoch,
        "batches": _batches(run),
        "n_train": len(data.y_train),
        "n_val": len(data.y_val),
        "n_test": len(data.y_test),
        "input_shape": list(spec.input_shape),
        "classes": spec.class_names,
        "layers": layers,
        "notes": run.dataset.extra.get("notes", []),  # data warnings, e.g. skipped rows
    }
    for cb in run.callbacks:
        if hasattr(cb, "stop_training"):
            cb.stop_training = False
        cb.model = net  # Keras style: a callback may look at the model (e.g. --animate)
        cb.on_train_begin(info)


def _stop_requested(callbacks: Sequence[Callback]) -> bool:
    return any(getattr(cb, "stop_training", False) for cb in callbacks)


def _overrides(cb: Callback, hook: str) -> bool:
    return getattr(type(cb), hook, None) is not getattr(Callback, hook)


def _batches(run: Run) -> int:
    return -(-len(run.data.y_train) // run.spec.train.batch_size)  # ceil


def _on_device(run: Run, x, y) -> tuple[Inputs, torch.Tensor]:
    """A prepared split -> (its inputs, labels on the run's device): preprocessed splits live
    on the device whole, stored ones (uint8 pixels, memory maps) are gathered per batch."""
    import torch

    return inputs_for(run.spec, x, run.device), torch.from_numpy(y).to(run.device)


def _diverged(run: Run, epoch: int, loss: float) -> None:
    if dist.is_main():
        run.spec.save(run.folder, "diverged")
    raise RunFailure(diverged_message(run.spec, run.data.x_train, epoch, loss))


def diverged_message(spec: RunSpec, x_train: Any, epoch: int, loss: float) -> str:
    """Why the loss left the numbers, as far as the run can tell: inputs too large for float32
    arithmetic (only where they were not standardised), else the learning rate."""
    import numpy as np

    head = f"training diverged in epoch {epoch + 1} (loss {loss})"
    lr = f"lower --lr (now {spec.train.lr:g})"
    if getattr(x_train, "dtype", None) is None or x_train.dtype.kind != "f" or x_train.size == 0:
        return f"{head}: {lr}"  # token ids, stored pixels (Rows): small numbers by nature
    largest = float(np.abs(x_train).max())
    if spec.standardizer is None and largest > 1e6:
        return (
            f"{head}: the inputs reach {largest:.3g}, and sums of such values overflow float32 "
            f"(3.4e38); standardise them (drop --no-standardize) or {lr}"
        )
    if spec.standardizer is None:
        return f"{head}: {lr}, or standardise the inputs (drop --no-standardize)"
    return f"{head}: {lr}; the inputs are standardised (largest {largest:.3g})"


def _write_history(run: Run, history: list[dict]) -> None:
    """history.csv and curves.png (per epoch only the checkpoint is written: it holds both)."""
    from dlcli.training.plots import curves_png

    rd.write_history(run.folder / rd.HISTORY, history)
    rd.atomic_write_bytes(run.folder / rd.CURVES, curves_png(history, run.spec.train.loss))


def _save_and_stop(
    run: Run,
    saver: _Checkpointer,
    state: TrainState,
    exc: KeyboardInterrupt | None = None,
    lost: BaseException | None = None,
) -> NoReturn:
    """Training stopped between epochs: save the last finished epoch (if not on disk yet) and
    end with one line (`_interrupted`)."""
    dist.finishing()
    saver.save(final=True)
    _interrupted(run, state, exc, lost=lost)


def _interrupted(
    run: Run,
    state: TrainState,
    exc: KeyboardInterrupt | None = None,
    finishing: bool = False,
    lost: BaseException | None = None,
) -> NoReturn:
    """Mark the run interrupted and re-raise (the same type: SIGTERM stays `Terminated`) with
    one line saying what was saved and how to go on. Under DDP rank 0 says it; a lost rank
    (`lost`) ends every rank with a RunFailure naming --resume."""
    if dist.is_main():
        run.spec.save(run.folder, "interrupted")
        if state.history:
            _write_history(run, state.history)
    if lost is not None:
        raise dist.Follower(1) if not dist.is_main() else dist.lost_failure(lost, run.folder)
    if not dist.is_main():
        raise dist.Follower(interrupts.exit_status(exc))  # rank 0 says what was saved
    if finishing:
        what = f"interrupted while writing the results of {len(state.history)} epochs"
        then = "finish it with"
    else:
        what = f"interrupted after {len(state.history)} of {run.spec.train.epochs} epochs"
        then = "continue with"
    kind = type(exc) if exc is not None else KeyboardInterrupt
    if kind is not KeyboardInterrupt:
        what = what.replace("interrupted", "terminated (SIGTERM)", 1)
    raise kind(f"{what}; the checkpoint is saved: {then} --resume {run.folder}") from None


def _row_of_weights(run: Run, state: TrainState) -> dict[str, Any] | None:
    """The history row of the weights the model holds at the end: the last epoch's, or with
    --patience the best epoch's (whose weights were restored). Its validation numbers came from
    the same `measure` on the same weights and split, so a final pass would only repeat them;
    its training numbers are the epoch's, averaged over its batches as it trained, which spares
    a pass over the whole training split (the largest) after training."""
    if not state.history:
        return None
    patience = run.spec.train.patience
    return (
        state.history[state.best_epoch - 1] if patience and state.best_epoch else state.history[-1]
    )


def _finish(run: Run, net: nn.Module, state: TrainState) -> RunResult:
    """Score every split; write weights, history, pictures and metrics; mark the run done, last
    (until then the run is resumable: `resume` finishes it)."""
    spec, data, folder = run.spec, run.data, run.folder

    def score(x, y):
        return measure(net, *_on_device(run, x, y), spec.train.loss)

    row = _row_of_weights(run, state)
    if row is not None:  # train: as it trained (Keras's convention); val: measured already
        train_loss, train_acc = row["loss"], row["accuracy"]
        val_loss, val_acc = row["val_loss"], row["val_accuracy"]
    else:
        train_loss, train_acc = score(data.x_train, data.y_train)
        val_loss, val_acc = score(data.x_val, data.y_val)
    test_loss, test_acc = score(data.x_test, data.y_test)
    rd.save_tensors(folder / rd.WEIGHTS, net.state_dict(), {"model": spec.model})
    _write_history(run, state.history)
    if spec.layout == "flat" and spec.sample_shape == (2,):
        from dlcli.training.plots import boundary_png

        rd.atomic_write_bytes(
            folder / rd.BOUNDARY, boundary_png(spec, run.dataset, net, run.device)
        )
    result = RunResult(
        model=spec.model,
        data=spec.data.source,
        epochs=len(state.history),
        best_epoch=state.best_epoch,
        stopped_early=state.stopped_early,
        train_loss=train_loss,  # type: ignore[arg-type]
        train_accuracy=train_acc,  # type: ignore[arg-type]
        val_loss=val_loss,
        val_accuracy=val_acc,
        test_loss=test_loss,
        test_accuracy=test_acc,
        params=count_params(net),
        seconds=round(time.perf_counter() - run.start, 3),
        out=str(folder),
        device=str(run.device),
        n_train=len(data.y_train),
        n_val=len(data.y_val),
        n_test=len(data.y_test),
        classes=spec.class_names,
        data_info=run.dataset.extra.get("info", {}),
    )
    rd.write_json(folder / rd.METRICS, result.to_dict())
    spec.epochs_done = len(state.history)
    spec.save(folder, "done")  # last: the mark that the run is finished (run_dir.run_state)
    return result

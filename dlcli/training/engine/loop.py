"""THE training loop: one for every model family, read top to bottom.

`fit` restores the checkpoint if resuming, then per epoch trains on shuffled batches
(`train_epoch`), measures the validation split and hands the epoch's row to the callbacks, which
record it, keep the best weights, snapshot the checkpoint and report progress (callbacks.py);
at the end `finish` scores every split and writes the run folder (finish.py). Batches are slices
of tensors already on the device (no DataLoader). The loop never prints, and never asks whether
it runs alone: what data parallelism needs (its rank's share of each batch, reduced sums, the
wrapped model, rank 0 alone writing) is the run's `Strategy` (strategy.py, distributed.py).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, NoReturn, cast

from dlcli import interrupts
from dlcli.errors import RunFailure
from dlcli.training.engine.callbacks import (
    Callback,
    CallbackList,
    Checkpointing,
    EarlyStopping,
    History,
    Keep,
)
from dlcli.training.engine.finish import diverged, finish, interrupted
from dlcli.training.engine.grads import GradNorms
from dlcli.training.engine.metrics import count_params
from dlcli.training.engine.precision import autocast, compiled, grad_scaler
from dlcli.training.engine.run import Run, RunResult
from dlcli.training.families import get_family
from dlcli.training.runs.checkpoint import Checkpoint, TrainState, restore

if TYPE_CHECKING:
    import torch
    from torch import nn

    from dlcli.training.config import TrainConfig
    from dlcli.training.engine.batches import Inputs


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    import torch

    assert cfg.lr is not None  # TrainConfig fills it in (the optimizer's default)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def fit(run: Run, net: nn.Module, checkpoint: Checkpoint | None = None) -> RunResult:
    """Train `net` for the run's epochs (on from `checkpoint` when resuming), then finish the run
    folder. Ctrl-C saves the last finished epoch and re-raises with one line saying so."""
    cfg, strategy = run.spec.train, run.strategy
    net = strategy.prepare(net.to(run.device))  # DDP on CUDA: SyncBatchNorm
    opt = make_optimizer(net, cfg)
    keep = Keep(TrainState())  # the state between epochs, and the best weights (--patience)
    if checkpoint is not None:
        keep = Keep(checkpoint.state, restore(checkpoint, net, opt, run.device))
    state = keep.state
    train_split = run.on_device(run.data.x_train, run.data.y_train)
    val_split = run.on_device(run.data.x_val, run.data.y_val)
    if strategy.is_main:
        run.spec.save(run.folder, "running")
    callbacks = _callbacks(run, keep, opt)
    callbacks.on_train_begin(_train_info(run, net, state), net)
    last = state.epoch if state.stopped_early else cfg.epochs  # resuming a finished training
    model = compiled(strategy.wrap(net, run.device), cfg.compile)  # the module that trains
    scaler = grad_scaler(cfg.precision, run.device)  # --precision 16-mixed
    try:
        for epoch in range(state.epoch, last):
            interrupts.raise_if_received()  # one that something swallowed on its way
            t0 = time.perf_counter()
            callbacks.on_epoch_begin(epoch, {"batches": run.batches, "epochs": cfg.epochs})
            trained = train_epoch(run, model, opt, train_split, epoch, callbacks, scaler)
            loss = cast(float, trained["loss"])  # a training split is never empty
            if not math.isfinite(loss):
                diverged(run, epoch, loss)
            with autocast(cfg.precision, run.device):  # DDP: scored in shares
                val = strategy.measure(net, *val_split, run.task, cfg.loss)
            # epoch, loss, accuracy (regression: mse, rmse, mae, r2), val_..., seconds
            row: dict[str, Any] = {"epoch": epoch + 1, **trained}
            row |= {f"val_{k}": v for k, v in val.items()}
            row["seconds"] = time.perf_counter() - t0
            callbacks.on_epoch_end(epoch, row)  # history, best weights, checkpoint, progress
            if callbacks.stop_training():
                break
        callbacks.flush()  # the last epoch's checkpoint
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (dlcli.interrupts.Terminated)
        _save_and_stop(run, callbacks, state, exc)
    except RuntimeError as exc:  # under DDP: a rank died, or a collective timed out
        if isinstance(exc, RunFailure) or not strategy.lost(exc):
            raise
        _save_and_stop(run, callbacks, state, lost=exc)
    if keep.best is not None:
        net.load_state_dict(keep.best)  # --patience: the best validation loss's weights
    try:  # the checkpoint holds every epoch now: an interrupted finish is finished by --resume
        # rank 0 scores the splits and writes the folder; every rank returns its result
        with autocast(cfg.precision, run.device):  # the run's precision, as evaluate scores
            result = RunResult(**strategy.from_main(lambda: finish(run, net, state).to_dict()))
    except KeyboardInterrupt as exc:
        interrupted(run, state, exc, finishing=True)
    strategy.end()  # every rank has the result: leave the process group together
    callbacks.on_train_end(result.to_dict())
    return result


def train_epoch(
    run: Run,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    split: tuple[Inputs, torch.Tensor],
    epoch: int,
    callbacks: CallbackList,
    scaler: Any = None,
) -> dict[str, float | None]:
    """One pass over the training split in a fresh seeded order: {"loss": mean loss, then the
    task's metrics as it trained (accuracy; mse, rmse, mae, r2)}."""
    import torch

    cfg, batches, task = run.spec.train, run.batches, run.task
    loss_fn = task.loss(cfg.loss)
    x, y = split
    model.train()
    order, shares = run.strategy.epoch_order(len(y), cfg.batch_size, cfg.seed, epoch, run.device)
    ys = y[order]  # one gather per epoch, then views
    losses, stats = [], []  # per batch; summed once at the end of the epoch
    inputs = x.batches(order, [(s.start, s.stop) for s in shares])  # batches.Inputs
    for b, (share, xb) in enumerate(zip(shares, inputs, strict=True)):
        if cfg.lr_schedule != "constant":  # a function of the step alone: resume needs no state
            for group in opt.param_groups:
                group["lr"] = cfg.lr_at(epoch * batches + b, cfg.epochs * batches)
        yb = ys[share.start : share.stop]
        with autocast(cfg.precision, run.device):  # --precision (32: no-op)
            scores = model(xb)  # (B, C) class scores, or (B, T) regression outputs
            loss = loss_fn(scores, yb)
        opt.zero_grad(set_to_none=True)
        # DDP averages gradients over ranks: scaled, they are the whole batch's mean
        scaled = loss if share.weight is None else loss * share.weight
        if scaler is None:
            scaled.backward()
            callbacks.on_gradients(b)  # --log-grads
            opt.step()
        else:  # float16: scale the loss, skip steps whose gradients overflowed
            scaler.scale(scaled).backward()
            if callbacks.grad_hooks:  # --log-grads sees the true gradients
                scaler.unscale_(opt)
                callbacks.on_gradients(b)
            scaler.step(opt)
            scaler.update()
        with torch.no_grad():
            losses.append(loss.detach())
            stat = task.sums(scores, yb)  # hits; or errors and target moments
            stats.append(stat if share.count else stat * 0)  # DDP: a share counted by rank 0
        callbacks.on_batch_end(b, batches, loss)
    # examples per batch (this rank's under DDP; the last batch may be short)
    sizes = torch.tensor([s.count for s in shares], dtype=torch.float64, device=run.device)
    sums = torch.cat(
        [
            (torch.stack(losses).double() * sizes).sum().reshape(1),  # loss over examples
            torch.stack(stats).sum(0),  # the task's sums (correct predictions, ...)
            sizes.sum().reshape(1),  # examples
        ]
    )
    loss_sum, *rest, seen = run.strategy.reduce(sums).tolist()  # summed over ranks
    return {"loss": loss_sum / seen, **task.reduce(rest, seen)}


def _callbacks(run: Run, keep: Keep, opt: torch.optim.Optimizer) -> CallbackList:
    """The loop's own callbacks (callbacks.py), then the caller's (rank 0's alone)."""
    cfg = run.spec.train
    # --log-grads adds its columns to the row before History keeps it (every rank: the same
    # all-reduced gradients, the same history)
    own: list[Callback] = [GradNorms()] if cfg.log_grads else []
    own.append(History(keep, cfg.epochs, cfg.patience))
    if cfg.patience:
        own.append(EarlyStopping(keep))
    if run.strategy.is_main:  # rank 0 alone writes the checkpoint
        own.append(Checkpointing(run.folder, keep, opt, run.device))
    return CallbackList([*own, *run.callbacks], run.strategy)


def _train_info(run: Run, net: nn.Module, state: TrainState) -> dict[str, Any]:
    """What `on_train_begin` tells the callbacks."""
    spec, data = run.spec, run.data
    family = get_family(spec.model)
    layers = (
        family.describe(spec.model_config, spec.input_shape, spec.outputs)
        if family.describe
        else []
    )
    return {
        "model": spec.model,
        "params": count_params(net),
        "device": str(run.device),
        "out": str(run.folder),
        "epochs": spec.train.epochs,
        "first_epoch": state.epoch,
        "batches": run.batches,
        "n_train": len(data.y_train),
        "n_val": len(data.y_val),
        "n_test": len(data.y_test),
        "input_shape": list(spec.input_shape),
        "classes": spec.class_names,
        "task": run.task.name,
        "targets": list(getattr(run.task, "names", [])),
        "layers": layers,
        "notes": run.dataset.extra.get("notes", []),  # data warnings, e.g. skipped rows
    }


def _save_and_stop(
    run: Run,
    callbacks: CallbackList,
    state: TrainState,
    exc: KeyboardInterrupt | None = None,
    lost: BaseException | None = None,
) -> NoReturn:
    """Training stopped between epochs: save the last finished epoch (if not on disk yet) and
    end with one line (`finish.interrupted`)."""
    run.strategy.finishing()
    callbacks.flush()
    interrupted(run, state, exc, lost=lost)

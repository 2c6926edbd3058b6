"""How a run ends: scored and written (`finish`), interrupted, or diverged.

`finish` scores every split and writes the weights, history, pictures and metrics, and marks the
run done last (until then it is resumable: `resume` finishes it). `interrupted` marks the run
interrupted and re-raises with one line saying what was saved and how to go on; `diverged` ends
a run whose loss left the numbers, saying why as far as it can tell. Under DDP rank 0 alone
writes (`strategy.is_main`) and says the line; the other ranks end quietly (`Follower`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, NoReturn

from dlcli import interrupts
from dlcli.errors import RunFailure
from dlcli.training.engine.distributed import Follower, lost_failure
from dlcli.training.engine.metrics import count_params, measure, weight_norm
from dlcli.training.engine.run import Run, RunResult
from dlcli.training.engine.tasks import Regression
from dlcli.training.runs import files as rd

if TYPE_CHECKING:
    from torch import nn

    from dlcli.training.runs.checkpoint import TrainState
    from dlcli.training.runs.spec import RunSpec


def diverged(run: Run, epoch: int, loss: float) -> NoReturn:
    """Mark the run diverged and end it with one line (a RunFailure) saying why."""
    if run.strategy.is_main:
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


def write_history(run: Run, history: list[dict]) -> None:
    """history.csv and curves.png (per epoch only the checkpoint is written: it holds both)."""
    from dlcli.training.plots import curves_png

    rd.write_history(run.folder / rd.HISTORY, history)
    rd.atomic_write_bytes(run.folder / rd.CURVES, curves_png(history, run.spec.train.loss))


def interrupted(
    run: Run,
    state: TrainState,
    exc: KeyboardInterrupt | None = None,
    finishing: bool = False,
    lost: BaseException | None = None,
) -> NoReturn:
    """Mark the run interrupted and re-raise (the same type: SIGTERM stays `Terminated`) with
    one line saying what was saved and how to go on. Under DDP rank 0 says it; a lost rank
    (`lost`) ends every rank with a RunFailure naming --resume."""
    main = run.strategy.is_main
    if main:
        run.spec.save(run.folder, "interrupted")
        if state.history:
            write_history(run, state.history)
    if lost is not None:
        raise lost_failure(lost, run.folder) if main else Follower(1)
    if not main:
        raise Follower(interrupts.exit_status(exc))  # rank 0 says what was saved
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


def finish(run: Run, net: nn.Module, state: TrainState) -> RunResult:
    """Score every split; write weights, history, pictures and metrics; mark the run done, last
    (until then the run is resumable: `resume` finishes it)."""
    spec, data, folder = run.spec, run.data, run.folder

    def score(x, y):
        return measure(net, *run.on_device(x, y), run.task, spec.train.loss)

    row = _row_of_weights(run, state)
    if row is not None:  # train: as it trained (Keras's convention); val: measured already
        train = {k: row.get(k) for k in ("loss", *run.task.metrics)}
        val = {k: row.get(f"val_{k}") for k in ("loss", *run.task.metrics)}
    else:
        train, val = score(data.x_train, data.y_train), score(data.x_val, data.y_val)
    test = score(data.x_test, data.y_test)
    # train_loss, train_accuracy (regression: train_mse, ..., train_r2), val_..., test_...
    scores: dict[str, Any] = {f"{split}_accuracy": None for split in ("train", "val", "test")}
    for split, measured in (("train", train), ("val", val), ("test", test)):
        scores |= {f"{split}_{k}": v for k, v in measured.items()}
    rd.save_tensors(folder / rd.WEIGHTS, net.state_dict(), {"model": spec.model})
    write_history(run, state.history)
    if spec.layout == "flat" and spec.sample_shape == (2,) and spec.class_names:
        from dlcli.training.plots import boundary_png

        rd.atomic_write_bytes(
            folder / rd.BOUNDARY, boundary_png(spec, run.dataset, net, run.device)
        )
    from dlcli.training.fitplot import draws_fit, run_fit_png

    if draws_fit(spec):
        rd.atomic_write_bytes(folder / rd.FIT, run_fit_png(spec, run.dataset, net, run.device))
    result = RunResult(
        model=spec.model,
        data=spec.data.source,
        epochs=len(state.history),
        best_epoch=state.best_epoch,
        stopped_early=state.stopped_early,
        **scores,
        params=count_params(net),
        weight_norm=weight_norm(net),
        seconds=round(time.perf_counter() - run.start, 3),
        out=str(folder),
        device=str(run.device),
        n_train=len(data.y_train),
        n_val=len(data.y_val),
        n_test=len(data.y_test),
        classes=spec.class_names,
        data_info=run.dataset.extra.get("info", {}),
        task=run.task.name,
        targets=list(run.task.names) if isinstance(run.task, Regression) else None,
    )
    rd.write_json(folder / rd.METRICS, result.to_dict())
    spec.epochs_done = len(state.history)
    spec.save(folder, "done")  # last: the mark that the run is finished (runs.state.run_state)
    return result

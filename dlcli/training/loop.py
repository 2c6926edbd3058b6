"""THE training loop: one for every model family.

The loop owns batching (slices of tensors already in memory, no DataLoader), metric reduction,
early stopping, the per-epoch checkpoint, resuming, and writing the run folder. Progress goes out
through callbacks (Keras style: `on_epoch_end(epoch, logs)`, batch hooks), so the loop never
prints. Keeping all of that here means data-parallel training (DDP under torchrun) stays one
change: shard the index permutation in `_epoch_order`, all-reduce the sums in `_reduce`, and let
rank 0 alone call `_save_*`.

Entry points: `train(model, model_config, data, train_config, out, callbacks)` and
`resume(run_dir, epochs, callbacks)`. Both return a `RunResult`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli import __version__
from dlcli.errors import InputError, RunFailure
from dlcli.training import run_dir as rd
from dlcli.training.config import DEVICES, TrainConfig
from dlcli.training.data import (
    DataConfig,
    Dataset,
    Standardizer,
    split_indices,
    to_layout,
)
from dlcli.training.models import (
    apply_init,
    config_from_dict,
    config_to_dict,
    get_family,
    load_family_data,
)

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

CHECKPOINT_SECONDS = 1.0  # the longest a finished epoch waits in memory before it is on disk
EVAL_BATCH = 1024  # fixed, so that evaluate reproduces the run's numbers bit for bit


class Callback:
    """Progress hooks; the loop calls them, the CLI implements them. All are optional."""

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


# --- the run's specification (config.json) ------------------------------------------------------


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": rd.RUN_FORMAT,
            "dlcli_version": __version__,
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
            "standardize": self.standardizer.to_dict() if self.standardizer else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: Path) -> RunSpec:
        if d.get("format") != rd.RUN_FORMAT:
            raise InputError(f"{where}: not a dlcli run config (format {d.get('format')!r})")
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
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where}: incomplete or damaged run config ({exc!r})") from None

    def build_model(self) -> nn.Module:
        family = get_family(self.model)
        return family.build(self.model_config, self.input_shape, len(self.class_names))

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """Raw samples (N, *sample_shape) -> standardised as in training, in the model's layout."""
        import numpy as np

        if x.dtype.kind in "iu":
            return np.ascontiguousarray(to_layout(x, self.layout))  # token ids stay integers
        x = self.standardizer(x) if self.standardizer else x.astype("float32", copy=False)
        return np.ascontiguousarray(to_layout(x, self.layout))


def read_spec(run: Path) -> tuple[RunSpec, dict[str, Any]]:
    """(spec, the raw config.json) of a run folder."""
    run = Path(run)
    if not run.is_dir():
        raise InputError(f"run folder '{run}' not found")
    raw = rd.read_json(run / rd.CONFIG)
    return RunSpec.from_dict(raw, run / rd.CONFIG), raw


@dataclass
class Prepared:
    """Splits in the model's layout, standardised, as numpy float32 / int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def prepare(dataset: Dataset, spec: RunSpec, seed: int) -> Prepared:
    """Split, standardise with the train split's statistics (fitted here unless the spec has
    them already), and reshape to the model's layout."""
    split = split_indices(
        dataset.y, spec.data.test_fraction, spec.data.val_fraction, seed, dataset.fixed_test
    )
    if spec.standardizer is None and spec.data.standardize and dataset.x.dtype.kind == "f":
        spec.standardizer = Standardizer.fit(dataset.x[split.train])

    def part(idx):
        return spec.preprocess(dataset.x[idx]), dataset.y[idx]

    (xtr, ytr), (xva, yva), (xte, yte) = part(split.train), part(split.val), part(split.test)
    return Prepared(xtr, ytr, xva, yva, xte, yte)


def make_spec(
    model: str, model_config: Any, data: DataConfig, train: TrainConfig, dataset: Dataset
) -> RunSpec:
    family = get_family(model)
    x1 = to_layout(dataset.x[:1], family.layout)  # raises if the data cannot take this layout
    return RunSpec(
        model=model,
        model_config=model_config,
        data=data,
        train=train,
        layout=family.layout,
        input_shape=tuple(int(d) for d in x1.shape[1:]),
        sample_shape=dataset.sample_shape,
        class_names=dataset.class_names,
        standardizer=None,
        feature_names=dataset.feature_names,
        image_mode=dataset.image_mode,
    )


def load_split(spec: RunSpec) -> tuple[Dataset, Prepared]:
    """Reload a run's data and recompute its split exactly (evaluate, resume)."""
    dataset = load_family_data(spec.model, spec.model_config, spec.data, spec.train.seed)
    if dataset.class_names != spec.class_names or dataset.sample_shape != spec.sample_shape:
        raise InputError(
            f"the run's data '{spec.data.source}' has changed since training "
            f"(classes or sample shape differ); give the data to use with --data"
        )
    return dataset, prepare(dataset, spec, spec.train.seed)


# --- devices, seeds, losses ---------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda, else mps, else cpu; an unavailable device is an InputError (exit 2)."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps and mps.is_available())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                f"--device cuda: no CUDA GPU is available to this PyTorch "
                f"({torch.__version__}); use --device cpu or auto"
            )
        return torch.device("cuda")
    if name == "mps":
        if not mps_ok:
            raise InputError(
                "--device mps: Apple's MPS backend is not available here; use --device cpu or auto"
            )
        return torch.device("mps")
    raise InputError(f"invalid --device '{name}': expected {', '.join(DEVICES)}")


_TORCH_DEFAULT_THREADS: int | None = None


def default_threads() -> int:
    """PyTorch's own default (physical cores, or OMP_NUM_THREADS), read before we change it."""
    import torch

    global _TORCH_DEFAULT_THREADS
    if _TORCH_DEFAULT_THREADS is None:
        _TORCH_DEFAULT_THREADS = torch.get_num_threads()
    return _TORCH_DEFAULT_THREADS


def set_threads(threads: int | None) -> int:
    """Fix torch's intra-op threads (results may depend on the count); recorded in config.json."""
    import torch

    n = threads or default_threads()
    torch.set_num_threads(n)
    return n


def multiclass_hinge(scores: torch.Tensor, y: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """The multiclass SVM loss of the lesson: mean_i sum_{j != y_i} max(0, s_j - s_{y_i} + margin).

    (PyTorch's multi_margin_loss divides this sum by the number of classes.)
    """
    correct = scores.gather(1, y[:, None])  # (B, 1)
    margins = (scores - correct + margin).clamp_min(0.0)  # (B, C)
    return margins.scatter(1, y[:, None], 0.0).sum(dim=1).mean()


def loss_function(name: str):
    import torch.nn.functional as F

    return F.cross_entropy if name == "cross-entropy" else multiclass_hinge


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    import torch

    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- evaluation (shared with `dlcli evaluate`) --------------------------------------------------


def scores_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class scores (N, C) in eval mode, in fixed-size chunks."""
    import torch

    model.eval()
    with torch.inference_mode():
        if len(x) == 0:
            return torch.zeros((0, 0))
        return torch.cat([model(x[i : i + EVAL_BATCH]) for i in range(0, len(x), EVAL_BATCH)])


def measure(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_name: str,
) -> tuple[float | None, float | None]:
    """(mean loss, accuracy) over a whole split; (None, None) for an empty split."""
    if len(y) == 0:
        return None, None
    scores = scores_of(model, x)
    loss = loss_function(loss_name)(scores, y)
    return float(loss), float((scores.argmax(1) == y).float().mean())


def _reduce(sums: torch.Tensor) -> list[float]:
    """Epoch totals -> Python numbers. Under DDP: all_reduce(sums) here."""
    return sums.tolist()


# --- the loop -----------------------------------------------------------------------------------


def _epoch_order(n: int, seed: int, epoch: int, device) -> torch.Tensor:
    """A fresh permutation per epoch from (seed, epoch) alone, so a resumed run shuffles alike.
    Under DDP: keep this rank's share."""
    import torch

    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).to(device)


def _has_hook(callbacks: Sequence[Callback], name: str) -> bool:
    return any(getattr(type(cb), name, None) is not getattr(Callback, name) for cb in callbacks)


def train(
    model: str,
    model_config: Any,
    data: DataConfig,
    train_config: TrainConfig,
    out: Path | None = None,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train a registered model family from scratch; the run folder is `out` (or runs/NAME-TIME)."""
    import torch

    start = time.perf_counter()
    device = resolve_device(train_config.device)
    threads = set_threads(train_config.threads)
    dataset = load_family_data(model, model_config, data, train_config.seed)
    spec = make_spec(model, model_config, data, train_config, dataset)
    prepared = prepare(dataset, spec, train_config.seed)
    if train_config.patience and len(prepared.y_val) == 0:
        raise InputError("--patience needs a validation split: give --val-fraction above 0")
    net = _fresh_model(spec)
    run = rd.new_run_dir(out, model)  # only now, with the data and model known good
    config = spec.to_dict() | {"threads": threads, "torch_version": torch.__version__}
    return _run(spec, config, dataset, prepared, net, run, device, None, callbacks, start)


def resume(run: Path, epochs: int | None = None, callbacks: Sequence[Callback] = ()) -> RunResult:
    """Continue a run from its last checkpoint (to `epochs` in all, if given)."""

    start = time.perf_counter()
    run = Path(run)
    spec, config = read_spec(run)
    if epochs is not None:
        spec.train.epochs = epochs
        config["train"]["epochs"] = epochs
    device = resolve_device(spec.train.device)
    set_threads(config.get("threads"))
    state = None
    checkpoint = rd.load_checkpoint(run)
    if checkpoint is not None:
        tensors, state = checkpoint
        state["tensors"] = tensors
        if state.get("stopped_early"):
            raise InputError(
                f"run '{run}' stopped early at epoch {state['epoch']} "
                f"(--patience {spec.train.patience}); there is nothing to resume"
            )
        if state["epoch"] >= spec.train.epochs:
            raise InputError(
                f"run '{run}' has already trained {state['epoch']} epochs; "
                f"give --epochs above {state['epoch']} to train on"
            )
    dataset, prepared = load_split(spec)
    net = _fresh_model(spec)
    return _run(spec, config, dataset, prepared, net, run, device, state, callbacks, start)


def _fresh_model(spec: RunSpec) -> Any:
    """The model as a run starts it: seeded, built, initialised (resume then loads weights)."""
    import torch

    torch.manual_seed(spec.train.seed)
    net = spec.build_model()
    apply_init(net, spec.train.init)
    return net


def _run(spec, config, dataset, prepared, net, run, device, state, callbacks, start) -> RunResult:
    """Mark the run folder's config as running, then fit (from `state` when resuming)."""
    config["status"] = "running"
    rd.write_json(run / rd.CONFIG, config)
    return _fit(
        spec,
        config,
        dataset,
        prepared,
        net,
        run,
        device,
        state=state,
        callbacks=callbacks,
        start=start,
    )


def _fit(
    spec: RunSpec,
    config: dict,
    dataset: Dataset,
    data: Prepared,
    net: nn.Module,
    run: Path,
    device: torch.device,
    state: dict | None,
    callbacks: Sequence[Callback],
    start: float,
) -> RunResult:
    import torch

    cfg = spec.train
    net.to(device)
    opt = make_optimizer(net, cfg)
    loss_fn = loss_function(cfg.loss)
    # The whole dataset lives on the device; batches are slices of it.
    x_train = torch.from_numpy(data.x_train).to(device)
    y_train = torch.from_numpy(data.y_train).to(device)
    x_val = torch.from_numpy(data.x_val).to(device)
    y_val = torch.from_numpy(data.y_val).to(device)

    history: list[dict] = []
    first_epoch, best_epoch, best_loss, wait = 0, 0, float("inf"), 0
    best_state: dict[str, torch.Tensor] | None = None
    if state is not None:
        tensors = state.pop("tensors")
        net.load_state_dict(rd.unprefixed("model.", tensors))
        opt.load_state_dict(
            rd.optimizer_state(rd.unprefixed("optim.", tensors), state["optimizer"])
        )
        torch.set_rng_state(tensors["rng.cpu"])
        if device.type == "cuda" and "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"])
        best = rd.unprefixed("best.", tensors)
        best_state = {k: v.to(device) for k, v in best.items()} or None
        first_epoch, best_epoch, best_loss, wait = (
            state["epoch"],
            state["best_epoch"],
            state["best_loss"],
            state["wait"],
        )
        history = state["history"]

    n, bs, epochs = len(y_train), cfg.batch_size, cfg.epochs
    batches = (n + bs - 1) // bs
    params = count_params(net)
    for cb in callbacks:
        cb.on_train_begin(
            {
                "model": spec.model,
                "params": params,
                "device": str(device),
                "out": str(run),
                "epochs": epochs,
                "first_epoch": first_epoch,
                "batches": batches,
                "n_train": n,
                "n_val": len(y_val),
                "n_test": len(data.y_test),
                "input_shape": list(spec.input_shape),
                "classes": spec.class_names,
                "layers": _describe(spec),
                "notes": dataset.extra.get("notes", []),  # data warnings, e.g. skipped rows
            }
        )
    batch_hooks = [cb for cb in callbacks if _has_hook([cb], "on_batch_end")]
    stopped_early = False
    epoch = first_epoch
    # Every epoch ends with a snapshot of the state in memory (cheap); it is written to disk
    # at most every CHECKPOINT_SECONDS, after the last epoch and on Ctrl-C, so that small fast
    # epochs do not pay a file write each (a hard kill loses at most those seconds).
    snapshot: tuple[dict, dict] | None = None
    last_write = time.perf_counter()
    try:
        for epoch in range(first_epoch, epochs):
            t0 = time.perf_counter()
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {"batches": batches, "epochs": epochs})
            net.train()
            order = _epoch_order(n, cfg.seed, epoch, device)
            xs, ys = x_train[order], y_train[order]  # one gather per epoch, then views
            losses, hits = [], []  # per batch; summed once at the end of the epoch
            for b in range(batches):
                xb, yb = xs[b * bs : (b + 1) * bs], ys[b * bs : (b + 1) * bs]
                scores = net(xb)
                loss = loss_fn(scores, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.lr_schedule != "constant":
                    for group in opt.param_groups:
                        group["lr"] = cfg.lr_at(epoch * batches + b, epochs * batches)
                opt.step()
                with torch.no_grad():
                    losses.append(loss.detach())
                    hits.append((scores.argmax(1) == yb).sum())
                if batch_hooks:
                    logs = {"batch": b + 1, "batches": batches, "loss": float(loss.detach())}
                    for cb in batch_hooks:
                        cb.on_batch_end(b, logs)
            sizes = torch.full((batches,), float(bs), dtype=torch.float64, device=device)
            sizes[-1] = n - (batches - 1) * bs  # the last batch may be short
            sums = torch.stack(
                [
                    (torch.stack(losses).double() * sizes).sum(),  # loss summed over examples
                    torch.stack(hits).sum().double(),  # correct predictions
                    sizes.sum(),  # examples
                ]
            )
            loss_sum, correct, seen = _reduce(sums)
            val_loss, val_acc = measure(net, x_val, y_val, cfg.loss)
            row = {
                "epoch": epoch + 1,
                "loss": loss_sum / seen,
                "accuracy": correct / seen,
                "val_loss": val_loss,
                "val_accuracy": val_acc,
            }
            if not math.isfinite(row["loss"]):
                config["status"] = "diverged"
                rd.write_json(run / rd.CONFIG, config)
                raise RunFailure(
                    f"training diverged in epoch {epoch + 1} (loss {row['loss']}): "
                    f"lower --lr (now {cfg.lr}) or standardise the inputs"
                )
            improved = val_loss is not None and val_loss < best_loss
            if improved:
                best_epoch, best_loss, wait = epoch + 1, val_loss, 0
                if cfg.patience:
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                wait += 1
            stopped_early = bool(cfg.patience) and wait >= cfg.patience
            row["seconds"] = time.perf_counter() - t0
            history.append(row)
            counters = {
                "epoch": epoch + 1,
                "best_epoch": best_epoch,
                "best_loss": best_loss,
                "wait": wait,
                "stopped_early": stopped_early,
                "history": history,
            }
            snapshot = _snapshot(net, opt, best_state, device, counters)
            if time.perf_counter() - last_write >= CHECKPOINT_SECONDS or epoch + 1 == epochs:
                rd.save_checkpoint(run, *snapshot)
                snapshot, last_write = None, time.perf_counter()
            for cb in callbacks:
                cb.on_epoch_end(epoch, row | {"epochs": epochs, "improved": improved})
            if stopped_early:
                break
        if snapshot is not None:  # stopped early between two writes
            rd.save_checkpoint(run, *snapshot)
    except KeyboardInterrupt:
        if snapshot is not None:  # the last finished epoch, not yet on disk
            rd.save_checkpoint(run, *snapshot)
        done = len(history)
        config["status"] = "interrupted"
        rd.write_json(run / rd.CONFIG, config)
        if history:  # per epoch only the checkpoint is written (it holds the history too)
            rd.write_history(run / rd.HISTORY, history)
            rd.atomic_write_bytes(run / rd.CURVES, rd.curves_png(history))
        raise KeyboardInterrupt(
            f"interrupted after {done} of {epochs} epochs; the checkpoint is saved: continue with "
            f"--resume {run}"
        ) from None

    if cfg.patience and best_state is not None:
        net.load_state_dict(best_state)  # restore the best validation loss
    result = _finish(
        spec,
        config,
        dataset,
        data,
        net,
        run,
        device,
        history,
        best_epoch,
        stopped_early,
        params,
        start,
    )
    for cb in callbacks:
        cb.on_train_end(result.to_dict())
    return result


def _describe(spec: RunSpec) -> list[dict]:
    family = get_family(spec.model)
    if family.describe is None:
        return []
    return family.describe(spec.model_config, spec.input_shape, len(spec.class_names))


def _snapshot(net: nn.Module, opt, best_state, device, counters: dict) -> tuple[dict, dict]:
    """(tensors, metadata) of everything --resume needs, copied (training goes on mutating)."""
    import torch

    opt_tensors, opt_meta = rd.optimizer_tensors(opt.state_dict())
    tensors = rd.prefixed("model.", net.state_dict()) | rd.prefixed("optim.", opt_tensors)
    tensors = {k: v.detach().clone() for k, v in tensors.items()}
    if best_state:
        tensors |= rd.prefixed("best.", best_state)  # never mutated in place
    tensors["rng.cpu"] = torch.get_rng_state()
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    # rows of the history are never changed once appended: a new list is copy enough
    return tensors, counters | {"history": list(counters["history"]), "optimizer": opt_meta}


def _finish(
    spec: RunSpec,
    config: dict,
    dataset: Dataset,
    data: Prepared,
    net: nn.Module,
    run: Path,
    device,
    history: list[dict],
    best_epoch: int,
    stopped_early: bool,
    params: int,
    start: float,
) -> RunResult:
    import torch

    def split(x, y):
        return measure(
            net, torch.from_numpy(x).to(device), torch.from_numpy(y).to(device), spec.train.loss
        )

    train_loss, train_acc = split(data.x_train, data.y_train)
    val_loss, val_acc = split(data.x_val, data.y_val)
    test_loss, test_acc = split(data.x_test, data.y_test)
    rd.save_tensors(run / rd.WEIGHTS, net.state_dict(), {"model": spec.model})
    rd.write_history(run / rd.HISTORY, history)
    rd.atomic_write_bytes(run / rd.CURVES, rd.curves_png(history))
    if spec.layout == "flat" and spec.sample_shape == (2,):
        rd.atomic_write_bytes(run / rd.BOUNDARY, _boundary(spec, dataset, net, device))
    result = RunResult(
        model=spec.model,
        data=spec.data.source,
        epochs=len(history),
        best_epoch=best_epoch,
        stopped_early=stopped_early,
        train_loss=train_loss,
        train_accuracy=train_acc,  # type: ignore[arg-type]
        val_loss=val_loss,
        val_accuracy=val_acc,
        test_loss=test_loss,
        test_accuracy=test_acc,
        params=params,
        seconds=round(time.perf_counter() - start, 3),
        out=str(run),
        device=str(device),
        n_train=len(data.y_train),
        n_val=len(data.y_val),
        n_test=len(data.y_test),
        classes=spec.class_names,
        data_info=dataset.extra.get("info", {}),
    )
    rd.write_json(run / rd.METRICS, result.to_dict())
    config["status"] = "done"
    config["epochs_done"] = len(history)
    rd.write_json(run / rd.CONFIG, config)
    return result


def _boundary(spec: RunSpec, dataset: Dataset, net: nn.Module, device, grid: int = 240) -> bytes:
    """Predicted class over a grid covering the (raw) 2-D data, as an image."""
    import numpy as np
    import torch

    x = dataset.x
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = (hi - lo) * 0.1 + 1e-6
    lo, hi = lo - pad, hi + pad
    a = np.linspace(lo[0], hi[0], grid, dtype=np.float32)
    b = np.linspace(hi[1], lo[1], grid, dtype=np.float32)  # top row = largest x2
    aa, bb = np.meshgrid(a, b)
    points = np.stack([aa.ravel(), bb.ravel()], axis=1)
    scores = scores_of(net, torch.from_numpy(spec.preprocess(points)).to(device))
    classes = scores.argmax(1).cpu().numpy().reshape(grid, grid)
    return rd.boundary_png(
        classes, (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])), x, dataset.y
    )

"""The knobs every run shares, and their defaults: the library owns them, the CLI reads them.

    DataConfig      where the data comes from, the split, standardisation
    TrainConfig     the loop's hyperparameters (epochs, optimizer, lr, L2, loss, init, ...)
    knob            a config field with its command-line help as metadata
    config_to_dict, config_from_dict
                    any config dataclass to JSON and back (config.json, sweep.json)

Each model family's own config lives with the family (`dlcli.training.families`), and so do its
training defaults (`Family.train_config(**knobs)` applies them: epochs; resnet: SGD 0.1 with
weight decay 5e-4, as He et al. train it; lstm: Adam 3e-3).

Each field's `metadata` carries its help text (and `metavar`, `choices`, `flag` where the
command line needs them): `dlcli train` builds its options from these fields, so a new knob is
one field and nothing else. Pure Python (no torch, numpy): `dlcli train --help` and
`import dlcli` stay fast.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from dlcli.errors import InputError

OPTIMIZERS = ("adam", "sgd")
CLASSIFICATION_LOSSES = ("cross-entropy", "hinge")
REGRESSION_LOSSES = ("mse", "mae", "huber")  # a run with one of these is a regression run
LOSSES = (*CLASSIFICATION_LOSSES, *REGRESSION_LOSSES)
DEVICES = ("auto", "cpu", "cuda", "mps")
INITS = ("default", "small")
PRECISIONS = ("32", "bf16", "16-mixed")
MAX_SEED = 2**63 - 1  # torch.manual_seed and numpy's generators take any of these
MAX_THREADS = 1024
DEFAULT_LR = {"adam": 1e-3, "sgd": 1e-2}  # per optimizer, unless a family says otherwise


def knob(default: Any, help: str, **meta: Any) -> Any:
    """A config field with its command-line help (and metavar / choices / flag) as metadata."""
    return field(default=default, metadata={"help": help, **meta})


def check(ok: bool, message: str) -> None:
    """Raise InputError(message) unless `ok`."""
    if not ok:
        raise InputError(message)


def choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """`value` lower-cased, if it is one of `choices` (else an InputError naming them)."""
    value = str(value).lower()
    check(value in choices, f"invalid --{name} '{value}': expected one of {', '.join(choices)}")
    return value


def parse_image_size(text: str | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    """'32' or '32x24' (or a pair) -> (H, W)."""
    if text is None:
        return None
    if isinstance(text, str):
        from dlcli.layers import parse_size

        size = parse_size(text)
    else:
        size = tuple(int(v) for v in text)
    if len(size) == 1:
        size = (size[0], size[0])
    check(len(size) == 2 and min(size) >= 1, f"invalid --image-size '{text}': expected N or HxW")
    return size  # type: ignore[return-value]


# --- data and the loop --------------------------------------------------------------------------


@dataclass
class DataConfig:
    """Where the data comes from and how it is split and preprocessed (saved in config.json)."""

    source: str = knob(
        "digits",
        "digits; spiral (or e.g. spiral:n=200,noise=0.3); curve (regression, e.g. "
        "curve:n=200,noise=0.1); a standard dataset, downloaded once: mnist, fashion-mnist, "
        "cifar10, cifar100, imdb (text: train lstm), boston_housing (regression) (see "
        "'dlcli data'); a .csv (header, label column); an .npz (arrays x, y); an image folder "
        "DIR/<class>/*.png.",
        flag="--data",
        metavar="NAME|PATH",
    )
    target: str | None = knob(
        None,
        "CSV label column (default: label); for regression (--loss mse|mae|huber) one or more "
        "numeric target columns, comma-separated (a,b: one output each).",
        metavar="NAME",
    )
    image_size: tuple[int, int] | None = knob(
        None, "Resize folder images to this size (default: 32x32).", metavar="HxW"
    )
    test_fraction: float = knob(
        0.2, "Held-out test share (a standard dataset keeps its official test set instead)."
    )
    val_fraction: float = knob(
        0.1,
        "Validation share (checked each epoch); of the official training set for a standard "
        "dataset.",
    )
    standardize: bool = knob(
        True, "Centre and scale features by the training split's mean and std."
    )

    def __post_init__(self) -> None:
        self.image_size = parse_image_size(self.image_size)
        for name in ("test_fraction", "val_fraction"):
            value = getattr(self, name)
            option = name.replace("_", "-")
            check(0.0 <= value < 1.0, f"invalid --{option} {value}: expected 0 <= F < 1")
        check(
            self.test_fraction + self.val_fraction < 1.0,
            f"--test-fraction {self.test_fraction} and --val-fraction {self.val_fraction} "
            "leave no training data: their sum must be below 1",
        )


@dataclass
class TrainConfig:
    """Hyperparameters of the loop (the same for every model family; see `Family.train_config`)."""

    epochs: int = knob(50, "Training epochs.")
    batch_size: int = knob(
        64, "Examples per optimizer step (under torchrun: the global batch, split across ranks)."
    )
    lr: float | None = knob(None, "Learning rate.")  # None: DEFAULT_LR[optimizer]
    optimizer: str = knob("adam", "Optimizer.", choices=OPTIMIZERS)
    lr_schedule: str = knob(
        "constant",
        "constant; step:S1,S2,... (lr divided by 10 at these optimizer steps, e.g. He et al.'s "
        "step:32000,48000 with 64k steps); cosine (from --lr down to 0 at the last step).",
        metavar="SCHEDULE",
    )
    momentum: float = knob(0.9, "SGD momentum.")
    weight_decay: float = knob(0.0, "L2 penalty: adds LAMBDA*w to each gradient.", metavar="LAMBDA")
    loss: str = knob(
        "cross-entropy",
        "Classification: softmax cross-entropy, or the multiclass SVM hinge loss (margin 1). "
        "Regression (numeric targets, one output each, standardised by the training split): "
        "mse (squared error), mae (absolute error), huber (squared below 1 std, then linear).",
        choices=LOSSES,
    )
    init: str = knob(
        "default",
        "Weights: PyTorch's default, or N(0, 0.01^2). Tiny weights stall a deep sigmoid net "
        "only under plain SGD (--optimizer sgd); Adam rescales its steps and hides it.",
        choices=INITS,
    )
    patience: int = knob(
        0,
        "Stop after N epochs without a better validation loss and restore the best weights "
        "(0: off).",
        metavar="N",
    )
    seed: int = knob(0, "Random seed; the same seed gives the same numbers.")
    device: str = knob("auto", "Where to run (auto: cuda, else mps, else cpu).", choices=DEVICES)
    threads: int | None = knob(
        None,
        "CPU threads for torch. Default: 1 if a batch is small work (its forward pass under "
        "0.7 ms), else the cores idle right now, at most one per physical core (per rank under "
        "torchrun); config.json records the count. Give N to repeat a run bit for bit.",
    )

    precision: str = knob(
        "32",
        "Arithmetic: 32 (float32); bf16 (autocast to bfloat16: CPU, or a GPU that has it); "
        "16-mixed (autocast to float16 with loss scaling: CUDA only). evaluate and predict use "
        "the run's.",
        choices=PRECISIONS,
    )
    compile: bool = knob(
        False,
        "torch.compile the model for training (needs a C++ compiler on CPU, Triton on CUDA; "
        "the first epoch pays the compilation).",
    )

    log_grads: bool = knob(
        False,
        "Record each layer's gradient norm per epoch: history.csv's grad_norm/NAME columns (NAME "
        "the module that owns the parameters) and a log-scale panel in curves.png. The norm is "
        "the L2 norm of the layer's parameter gradients (whole batch, all ranks), measured after "
        "backward and before the optimizer step (before any clipping), averaged over the "
        "epoch's steps.",
    )

    # The family's own defaults win over the field defaults above (see `Family.train_config`).
    def __post_init__(self) -> None:
        self.optimizer = choice("optimizer", self.optimizer, OPTIMIZERS)
        self.precision = choice("precision", self.precision, PRECISIONS)
        self.loss = choice("loss", self.loss, LOSSES)
        self.init = choice("init", self.init, INITS)
        self.device = choice("device", self.device, DEVICES)
        check(self.epochs >= 1, f"invalid --epochs {self.epochs}: expected at least 1")
        check(self.batch_size >= 1, f"invalid --batch-size {self.batch_size}: expected at least 1")
        check(
            self.lr is None or 0 < self.lr < math.inf,
            f"invalid --lr {self.lr}: expected a positive finite number",
        )
        check(0 <= self.momentum < 1, f"invalid --momentum {self.momentum}: expected 0 <= M < 1")
        check(
            0 <= self.weight_decay < math.inf,
            f"invalid --weight-decay {self.weight_decay}: expected a finite number >= 0",
        )
        check(self.patience >= 0, f"invalid --patience {self.patience}: expected >= 0")
        check(
            self.threads is None or 1 <= self.threads <= MAX_THREADS,
            f"invalid --threads {self.threads}: expected 1 to {MAX_THREADS}",
        )
        check(
            0 <= self.seed <= MAX_SEED,
            f"invalid --seed {self.seed}: expected 0 to {MAX_SEED} (2**63 - 1)",
        )
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]
        self.lr_schedule = "".join(str(self.lr_schedule).lower().split())
        self._milestones()  # fail early on a bad schedule

    @property
    def regression(self) -> bool:
        """Whether the loss makes this a regression run (`REGRESSION_LOSSES`)."""
        return self.loss in REGRESSION_LOSSES

    def _milestones(self) -> tuple[int, ...]:
        kind, _, steps = self.lr_schedule.partition(":")
        if kind in ("constant", "cosine") and not steps:
            return ()
        try:
            milestones = tuple(int(s) for s in steps.split(",")) if kind == "step" else ()
        except ValueError:
            milestones = ()
        check(
            bool(milestones) and all(m >= 1 for m in milestones),
            f"invalid --lr-schedule '{self.lr_schedule}': expected constant, cosine or "
            "step:S1,S2,... (optimizer steps, e.g. step:32000,48000)",
        )
        return milestones

    def lr_at(self, step: int, total: int) -> float:
        """The learning rate for optimizer step `step` (0-based) of `total`: a pure function of
        the step, so a resumed run continues the schedule exactly."""
        import math

        assert self.lr is not None  # __post_init__ resolved the default
        if self.lr_schedule == "cosine":
            return 0.5 * self.lr * (1.0 + math.cos(math.pi * step / max(1, total)))
        return self.lr * 0.1 ** sum(step >= m for m in self._milestones())


# --- config dataclasses as JSON -----------------------------------------------------------------


def config_to_dict(config: Any) -> dict:
    """A config dataclass as JSON-ready values (tuples become lists)."""
    return {f.name: _jsonable(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def config_from_dict(config_cls: type, data: dict) -> Any:
    """Rebuild a config dataclass from `config_to_dict`'s output (lists back to tuples). Every
    value must have its field's JSON type (an int is no float's 2.5 nor a bool's true, a float
    is finite) before the dataclass checks its range: InputError naming the field if not."""
    if not isinstance(data, dict):
        raise InputError(f"a config section is {type(data).__name__}, not a JSON object")
    hints = typing.get_type_hints(config_cls)
    kwargs = {}
    for f in dataclasses.fields(config_cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if not _json_type_ok(value, hints[f.name]):
            text = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise InputError(f"'{f.name}' is {text}, not {hints[f.name]}")
        if isinstance(value, list) and typing.get_origin(base_type(hints[f.name])) is tuple:
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[f.name] = value
    return config_cls(**kwargs)


def base_type(hint: Any) -> Any:
    """`X` for a type hint `X | None` (the configs' optional fields), else the hint itself."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _json_type_ok(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a config field's type hint (`int | None`, `tuple[int, ...]`,
    `float`, ...); hints it does not know pass."""
    if value is None:
        return type(None) in typing.get_args(hint)
    hint = base_type(hint)
    if typing.get_origin(hint) is tuple:  # tuple[int, ...] or tuple[int, int]: one item type
        inner = typing.get_args(hint)[0]
        return isinstance(value, list) and all(_json_type_ok(v, inner) for v in value)
    if hint is int:
        return type(value) is int
    if hint is float:
        return type(value) is int or (type(value) is float and math.isfinite(value))
    if hint is bool:
        return type(value) is bool
    if hint is str:
        return type(value) is str
    return True

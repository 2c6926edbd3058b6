"""Every training knob and its default, in one place: the library owns them, the CLI reads them.

    DataConfig      where the data comes from, the split, standardisation
    TrainConfig     the loop's hyperparameters (epochs, optimizer, lr, L2, loss, init, ...)
    MLPConfig, CNNConfig, ResNetConfig, RecurrentConfig
                    one config per model family; `TRAIN_DEFAULTS` on each holds the family's own
                    training defaults (epochs; resnet: SGD 0.1 with weight decay 5e-4, as He et
                    al. train it; lstm: Adam 3e-3)
    FAMILIES        model name -> its config class (`dlcli train NAME`)

Each field's `metadata` carries its help text (and `metavar`, `choices`, `flag` where the
command line needs them): `dlcli train` builds its options from these fields, so a new knob is
one field here and nothing else (`SWEEP_EXAMPLE` on a family names the knob its help's sweep
example repeats). `TrainConfig.for_model(name, **knobs)` applies a family's
defaults. Pure Python (no torch, numpy): `dlcli train --help` and `import dlcli` stay fast.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from dlcli.errors import InputError

OPTIMIZERS = ("adam", "sgd")
LOSSES = ("cross-entropy", "hinge")
DEVICES = ("auto", "cpu", "cuda", "mps")
INITS = ("default", "small")
ACTIVATIONS = ("relu", "sigmoid", "tanh")
CELLS = ("lstm", "gru", "rnn")
PRECISIONS = ("32", "bf16", "16-mixed")
MAX_SEED = 2**63 - 1  # torch.manual_seed and numpy's generators take any of these
MAX_THREADS = 1024
DEFAULT_LR = {"adam": 1e-3, "sgd": 1e-2}  # per optimizer, unless a family says otherwise
# For the 8x8 digits: 8x8x32 -> 4x4x32 -> 4x4x64 -> 2x2x64 = 256 features, then 128 -> classes.
DEFAULT_CNN_LAYERS = "conv3p1-32,maxpool2,conv3p1-64,maxpool2"


def knob(default: Any, help: str, **meta: Any) -> Any:
    """A config field with its command-line help (and metavar / choices / flag) as metadata."""
    return field(default=default, metadata={"help": help, **meta})


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InputError(message)


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    value = str(value).lower()
    _check(value in choices, f"invalid --{name} '{value}': expected one of {', '.join(choices)}")
    return value


def parse_hidden(text: str | int | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """'128,64' -> (128, 64); 20 -> (20,); '0', 0 or '' -> () (no hidden layer: the linear
    score function)."""
    if isinstance(text, int):
        text = str(text)
    if not isinstance(text, str):
        sizes = tuple(int(s) for s in text)
    else:
        cleaned = "".join(text.split())
        if cleaned in ("", "0", "none"):
            return ()
        try:
            sizes = tuple(int(p) for p in cleaned.split(","))
        except ValueError:
            raise InputError(
                f"invalid --hidden '{text}': expected sizes like 128,64 (or 0 for none)"
            ) from None
    _check(all(s >= 1 for s in sizes), f"invalid --hidden '{text}': every layer needs a unit")
    return sizes


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
    _check(len(size) == 2 and min(size) >= 1, f"invalid --image-size '{text}': expected N or HxW")
    return size  # type: ignore[return-value]


# --- data and the loop --------------------------------------------------------------------------


@dataclass
class DataConfig:
    """Where the data comes from and how it is split and preprocessed (saved in config.json)."""

    source: str = knob(
        "digits",
        "digits; spiral (or e.g. spiral:n=200,noise=0.3); a standard dataset, downloaded once: "
        "mnist, fashion-mnist, cifar10, cifar100, imdb (text: train lstm) (see 'dlcli data'); "
        "a .csv (header, label column); an .npz (arrays x, y); an image folder "
        "DIR/<class>/*.png.",
        flag="--data",
        metavar="NAME|PATH",
    )
    target: str | None = knob(None, "CSV label column (default: label).", metavar="NAME")
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
            _check(0.0 <= value < 1.0, f"invalid --{option} {value}: expected 0 <= F < 1")
        _check(
            self.test_fraction + self.val_fraction < 1.0,
            f"--test-fraction {self.test_fraction} and --val-fraction {self.val_fraction} "
            "leave no training data: their sum must be below 1",
        )


@dataclass
class TrainConfig:
    """Hyperparameters of the loop (the same for every model family; see `for_model`)."""

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
        "Softmax cross-entropy, or the multiclass SVM hinge loss (margin 1).",
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

    # The family's own defaults win over the field defaults above (see `for_model`).
    def __post_init__(self) -> None:
        self.optimizer = _choice("optimizer", self.optimizer, OPTIMIZERS)
        self.precision = _choice("precision", self.precision, PRECISIONS)
        self.loss = _choice("loss", self.loss, LOSSES)
        self.init = _choice("init", self.init, INITS)
        self.device = _choice("device", self.device, DEVICES)
        _check(self.epochs >= 1, f"invalid --epochs {self.epochs}: expected at least 1")
        _check(self.batch_size >= 1, f"invalid --batch-size {self.batch_size}: expected at least 1")
        _check(
            self.lr is None or 0 < self.lr < math.inf,
            f"invalid --lr {self.lr}: expected a positive finite number",
        )
        _check(0 <= self.momentum < 1, f"invalid --momentum {self.momentum}: expected 0 <= M < 1")
        _check(
            0 <= self.weight_decay < math.inf,
            f"invalid --weight-decay {self.weight_decay}: expected a finite number >= 0",
        )
        _check(self.patience >= 0, f"invalid --patience {self.patience}: expected >= 0")
        _check(
            self.threads is None or 1 <= self.threads <= MAX_THREADS,
            f"invalid --threads {self.threads}: expected 1 to {MAX_THREADS}",
        )
        _check(
            0 <= self.seed <= MAX_SEED,
            f"invalid --seed {self.seed}: expected 0 to {MAX_SEED} (2**63 - 1)",
        )
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]
        self.lr_schedule = "".join(str(self.lr_schedule).lower().split())
        self._milestones()  # fail early on a bad schedule

    def _milestones(self) -> tuple[int, ...]:
        kind, _, steps = self.lr_schedule.partition(":")
        if kind in ("constant", "cosine") and not steps:
            return ()
        try:
            milestones = tuple(int(s) for s in steps.split(",")) if kind == "step" else ()
        except ValueError:
            milestones = ()
        _check(
            bool(milestones) and all(m >= 1 for m in milestones),
            f"invalid --lr-schedule '{self.lr_schedule}': expected constant, cosine or "
            "step:S1,S2,... (optimizer steps, e.g. step:32000,48000)",
        )
        return milestones

    def lr_at(self, step: int, total: int) -> float:
        """The learning rate for optimizer step `step` (0-based) of `total`: a pure function of
        the step, so a resumed run continues the schedule exactly."""
        import math

        if self.lr_schedule == "cosine":
            return 0.5 * self.lr * (1.0 + math.cos(math.pi * step / max(1, total)))
        return self.lr * 0.1 ** sum(step >= m for m in self._milestones())

    @classmethod
    def for_model(cls, model: str, **knobs: Any) -> TrainConfig:
        """The loop's config for family `model`: its TRAIN_DEFAULTS, then `knobs` (None = not
        given). The learning rate follows the optimizer: the family's table, else DEFAULT_LR."""
        family = family_config(model)
        given = {k: v for k, v in knobs.items() if v is not None}
        values = {**family.TRAIN_DEFAULTS, **given}
        if "lr" not in given:
            optimizer = str(values.get("optimizer", "adam")).lower()
            values["lr"] = family.lr_table().get(optimizer)
        return cls(**values)


def train_defaults(model: str) -> dict[str, Any]:
    """Every TrainConfig default as family `model` has it (for help texts and the docs)."""
    family = family_config(model)
    values = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    values.update(family.TRAIN_DEFAULTS)
    return values


class _Family:
    """Mixin of the model configs: the family's training defaults and learning-rate table."""

    TRAIN_DEFAULTS: ClassVar[dict[str, Any]] = {}
    LR: ClassVar[dict[str, float]] = {}
    # the knob and values of the sweep example in `dlcli train NAME --help` (tested valid)
    SWEEP_EXAMPLE: ClassVar[tuple[str, tuple[str, ...]]] = ("seed", ("0", "1"))
    # flags every example of this family needs before the swept one (custom: its --model)
    EXAMPLE_PREFIX: ClassVar[str] = ""

    @classmethod
    def lr_table(cls) -> dict[str, float]:
        return {**DEFAULT_LR, **cls.LR}


def _check_common(activation: str, dropout: float) -> str:
    _check(0.0 <= dropout < 1.0, f"invalid --dropout {dropout}: expected 0 <= P < 1")
    return _choice("activation", activation, ACTIVATIONS)


# --- model families -----------------------------------------------------------------------------


@dataclass
class MLPConfig(_Family):
    """Fully connected net; `hidden=()` is the linear score function f(x) = Wx + b."""

    TRAIN_DEFAULTS: ClassVar[dict[str, Any]] = {"epochs": 50}
    SWEEP_EXAMPLE: ClassVar[tuple[str, tuple[str, ...]]] = ("hidden", ("3", "6", "20"))

    hidden: tuple[int, ...] = knob(
        (128, 64), "Hidden layer sizes, e.g. 128,64; 0 for none.", metavar="SIZES"
    )
    activation: str = knob("relu", "Nonlinearity after each hidden layer.", choices=ACTIVATIONS)
    # with it the default net clears 0.97 on digits for every seed tried
    dropout: float = knob(0.2, "Dropout probability in the classifier (training only).")

    def __post_init__(self) -> None:
        self.hidden = parse_hidden(self.hidden)
        self.activation = _check_common(self.activation, self.dropout)


@dataclass
class CNNConfig(_Family):
    """A conv chain in the layer-spec grammar, then flatten and a fully connected classifier.

    Each conv/deconv is followed by `activation` unless the spec places activations itself
    (any relu/sigmoid/tanh token). `dropout` applies in the classifier.
    """

    TRAIN_DEFAULTS: ClassVar[dict[str, Any]] = {"epochs": 30}
    SWEEP_EXAMPLE: ClassVar[tuple[str, tuple[str, ...]]] = ("dropout", ("0", "0.5"))

    layers: str = knob(
        DEFAULT_CNN_LAYERS,
        "Layer chain in featsize's grammar, e.g. 'conv3p1-64,maxpool2,conv3p1-128' "
        "(see 'Layer specs' in the README).",
        metavar="SPEC",
    )
    hidden: tuple[int, ...] = knob(
        (128,), "Hidden layer sizes of the classifier, e.g. 128,64; 0 for none.", metavar="SIZES"
    )
    activation: str = knob(
        "relu", "Nonlinearity after each conv and hidden layer.", choices=ACTIVATIONS
    )
    dropout: float = knob(0.0, "Dropout probability in the classifier (training only).")

    def __post_init__(self) -> None:
        from dlcli.layers import parse_layers

        self.hidden = parse_hidden(self.hidden)
        self.activation = _check_common(self.activation, self.dropout)
        parse_layers(self.layers)  # fail early on a bad spec


@dataclass
class ResNetConfig(_Family):
    """He et al.'s CIFAR ResNet; classes and input channels come from the data."""

    # He et al.'s optimiser: SGD with momentum 0.9, lr 0.1 and weight decay 5e-4 (they decay the
    # lr at set steps; the engine keeps it constant). On digits this gives 0.98-0.99 test
    # accuracy where Adam at 1e-3 stops at 0.97 (tests/bench/bench_resnet_lstm_quality.py).
    TRAIN_DEFAULTS: ClassVar[dict[str, Any]] = {
        "epochs": 20,
        "optimizer": "sgd",
        "weight_decay": 5e-4,
    }
    LR: ClassVar[dict[str, float]] = {"sgd": 0.1}
    SWEEP_EXAMPLE: ClassVar[tuple[str, tuple[str, ...]]] = ("depth", ("8", "14", "20"))

    depth: int = knob(20, "Layers with weights, 6n+2: 20, 32, 44, 56, 110.")
    width: int = knob(16, "Channels of the first stage (then 2x and 4x).")
    augment: bool = knob(
        False,
        "Training only: shift images by up to size/8 pixels (He et al.'s random crops); "
        "pays off with longer training.",
    )

    def __post_init__(self) -> None:
        from dlcli.archs import cifar_resnet_specs

        # raises the InputError for a depth that is not 6n+2 or a bad width
        cifar_resnet_specs(self.depth, self.width)

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 2) // 6

    def specs(self) -> list[str]:
        """The main path as layer-spec tokens (what featsize/receptive-field read)."""
        from dlcli.archs import cifar_resnet_specs

        return cifar_resnet_specs(self.depth, self.width)


@dataclass
class RecurrentConfig(_Family):
    """The recurrent family's knobs (saved in config.json; `vocab` is filled in from text)."""

    # Adam at 1e-3 leaves the digits LSTM at ~0.95 after 20 epochs; 3e-3 reaches 0.975-0.98
    # (tests/bench/bench_resnet_lstm_quality.py).
    TRAIN_DEFAULTS: ClassVar[dict[str, Any]] = {"epochs": 20}
    LR: ClassVar[dict[str, float]] = {"adam": 3e-3}
    SWEEP_EXAMPLE: ClassVar[tuple[str, tuple[str, ...]]] = ("cell", ("lstm", "gru", "rnn"))

    cell: str = knob(
        "lstm",
        "Recurrent cell; the plain tanh RNN shows what the LSTM's gates fix.",
        choices=CELLS,
    )
    hidden_size: int = knob(128, "Units per layer.")
    num_layers: int = knob(1, "Stacked layers.")
    bidirectional: bool = knob(
        True, "Also read each sequence backwards.", flag="--bidirectional/--unidirectional"
    )
    dropout: float = knob(0.0, "Dropout between layers and before the classifier.", metavar="P")
    # Text data only:
    embedding_dim: int = knob(64, "Text: word vector size (from the file with --embeddings).")
    embeddings: str | None = knob(
        None,
        "Text: initialise the word vectors from a word2vec text or binary file.",
        metavar="VECTORS",
    )
    freeze_embeddings: bool = knob(False, "Text: keep the pretrained vectors fixed.")
    text_column: str = knob(
        "text",
        "A CSV with this column is read as text (labels in --target, default 'label').",
        metavar="NAME",
    )
    min_count: int = knob(1, "Text: rarer words in the training split become <unk>.")
    max_length: int | None = knob(
        None, "Text: keep the first N tokens (default: all).", metavar="N"
    )
    # <pad>, <unk>, words; empty for dense sequences. Filled from the data, not a knob.
    vocab: tuple[str, ...] = field(default=(), metadata={"cli": False})

    def __post_init__(self) -> None:
        self.cell = _choice("cell", self.cell, CELLS)
        for name in ("hidden_size", "num_layers", "embedding_dim", "min_count"):
            value = getattr(self, name)
            _check(value >= 1, f"invalid --{name.replace('_', '-')} {value}: expected at least 1")
        _check(
            self.max_length is None or self.max_length >= 1,
            f"invalid --max-length {self.max_length}: expected at least 1",
        )
        _check(0.0 <= self.dropout < 1.0, f"invalid --dropout {self.dropout}: expected 0 <= P < 1")
        _check(
            not self.freeze_embeddings or bool(self.embeddings),
            "--freeze-embeddings needs pretrained vectors: give --embeddings",
        )


LAYOUTS = ("auto", "flat", "image", "sequence")


@dataclass
class CustomConfig(_Family):
    """Any nn.Module named by a REF (see dlcli.modelref); `sha256` pins a file REF's contents."""

    TRAIN_DEFAULTS: ClassVar[dict[str, Any]] = {"epochs": 10}
    EXAMPLE_PREFIX: ClassVar[str] = "--model mynet.py:Net"

    ref: str | None = knob(
        None,
        "The model: package.module:callable, path/to/file.py:callable, either with literal "
        "arguments (...:Net(num_classes=10)). It must map a batch of samples to (N, classes) "
        "scores. A file or module REF runs that Python code, as 'python file.py' would.",
        flag="--model",
        metavar="REF",
    )
    layout: str = knob(
        "auto",
        "What forward eats: flat (N, F), image (N, C, H, W), sequence (N, T, F); auto: image "
        "for image data, else flat.",
        choices=LAYOUTS,
    )
    # The file REF's SHA-256 when the run started (filled in, not a knob): evaluate, predict and
    # --resume refuse a file that has changed since.
    sha256: str | None = field(default=None, metadata={"cli": False})

    def __post_init__(self) -> None:
        _check(
            bool(self.ref) and str(self.ref).strip() != "",
            "train custom needs the model: --model REF (e.g. --model mynet.py:Net)",
        )
        self.layout = _choice("layout", self.layout, LAYOUTS)
        if self.sha256 is None:  # a new run: pin the file it trains
            from dlcli.modelref import parse_ref, ref_sha256

            parsed = parse_ref(self.ref)
            _check(parsed.kind != "run", "train custom --model takes a module or file REF")
            self.sha256 = ref_sha256(parsed)

    def layout_for(self, sample_shape: tuple[int, ...]) -> str:
        if self.layout != "auto":
            return self.layout
        return "image" if len(sample_shape) == 3 else "flat"


FAMILIES: dict[str, type] = {
    "mlp": MLPConfig,
    "cnn": CNNConfig,
    "resnet": ResNetConfig,
    "lstm": RecurrentConfig,
    "custom": CustomConfig,
}


def family_config(model: str) -> Any:
    """The config class of model family `model` (an InputError naming the valid ones)."""
    try:
        return FAMILIES[model]
    except KeyError:
        raise InputError(
            f"unknown model '{model}': expected one of {', '.join(FAMILIES)}"
        ) from None

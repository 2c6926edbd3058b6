"""The `custom` family: train any nn.Module named by a REF (`dlcli train custom --model REF`).

The REF (see `dlcli.modelref`) is stored in config.json with the file's SHA-256, so that
`evaluate`, `predict` and `--resume` rebuild the same model, and refuse (one line, exit 2) when
the file has changed since the run started. Before anything is built for real, one forward pass
on the meta device (`dlcli.inspect_model`) checks that the model maps the data's samples to
(N, classes) scores, and gives the footprint (parameters, activations) that `check_model_size`
weighs like every family's. The layout (flat / image / sequence) is the config's: `auto` is
image for (C, H, W) samples, else flat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError
from dlcli.training.config import check, choice, knob
from dlcli.training.families.family import Family, Footprint

if TYPE_CHECKING:
    from torch import nn

    from dlcli.inspection import Inspection

LAYOUTS = ("auto", "flat", "image", "sequence")


@dataclass
class CustomConfig:
    """Any nn.Module named by a REF (see dlcli.modelref); `sha256` pins a file REF's contents."""

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
        check(
            bool(self.ref) and str(self.ref).strip() != "",
            "train custom needs the model: --model REF (e.g. --model mynet.py:Net)",
        )
        self.layout = choice("layout", self.layout, LAYOUTS)
        if self.sha256 is None:  # a new run: pin the file it trains
            from dlcli.modelref import parse_ref, ref_sha256

            parsed = parse_ref(self.model_ref)
            check(parsed.kind != "run", "train custom --model takes a module or file REF")
            self.sha256 = ref_sha256(parsed)

    @property
    def model_ref(self) -> str:
        """The REF (`__post_init__` refuses a config without one)."""
        assert self.ref is not None
        return self.ref

    def layout_for(self, sample_shape: tuple[int, ...]) -> str:
        if self.layout != "auto":
            return self.layout
        return "image" if len(sample_shape) == 3 else "flat"


def _check_file(config: CustomConfig) -> None:
    """Refuse a file REF whose file changed since the run recorded its SHA-256."""
    from dlcli.modelref import parse_ref, ref_sha256

    now = ref_sha256(parse_ref(config.model_ref))
    if config.sha256 and now and now != config.sha256:
        raise InputError(
            f"the model file of '{config.ref}' has changed since this run started (sha256 "
            f"{config.sha256[:12]}... then, {now[:12]}... now): restore it, or train a new run"
        )


def inspect(config: CustomConfig, input_shape: tuple[int, ...], num_classes: int) -> Inspection:
    """One meta forward pass of the model on a sample of `input_shape`, checked to give
    (1, num_classes) scores (else an InputError naming both shapes)."""
    from dlcli.inspection import inspect_model

    _check_file(config)
    result = inspect_model(config.model_ref, input_shape, depth=1, batch=1)
    if result.output != [1, num_classes]:
        shape = "x".join(map(str, input_shape))
        raise InputError(
            f"the model '{config.ref}' maps a sample of shape {shape} (batch: 1x{shape}) to "
            f"{_show(result.output)}; this data needs (N, {num_classes}) class scores, "
            f"i.e. 1x{num_classes}"
        )
    return result


def _show(output: object) -> str:
    if isinstance(output, list) and all(isinstance(n, int) for n in output):
        return "x".join(map(str, output))
    return f"{output!r} (not one tensor of class scores)"


def footprint(config: CustomConfig, input_shape: tuple[int, ...], num_classes: int) -> Footprint:
    result = inspect(config, input_shape, num_classes)
    return Footprint(result.params, result.activation_bytes // 4)  # values per sample


def describe(config: CustomConfig, input_shape: tuple[int, ...], num_classes: int) -> list[dict]:
    """The rows printed before training: the model's top-level modules and calls."""
    rows: list[dict[str, Any]] = [{"layer": "input", "output": list(input_shape), "params": None}]
    for row in inspect(config, input_shape, num_classes).layers:
        output = row.output[1:] if isinstance(row.output, list) and row.output else row.output
        rows.append({"layer": f"{row.name} ({row.type})", "output": output, "params": row.params})
    return rows


def build_custom(config: CustomConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The REF's model on the CPU, freshly initialised (the loop moves it to its device)."""
    from dlcli.modelref import load_ref

    _check_file(config)
    return load_ref(config.model_ref, meta=False).module


HELP = """Any PyTorch model: a class or function in your own .py file or in a package.

    --model REF names it (package.module:callable or path/to/file.py:callable, with literal
    arguments if it takes any, quoted for the shell: 'mynet.py:Net(num_classes=10)'); it must
    map a batch of samples to (N, classes) scores, which one forward pass on PyTorch's meta
    device checks before training. The REF runs that Python code, exactly as 'python file.py'
    would. The run folder records the REF and the file's SHA-256: evaluate, predict and
    --resume rebuild the model from the file and refuse it if it has changed since.
    'dlcli featsize --model REF' shows the model's shapes, parameters and MACs.

    \b
    Examples:
      dlcli train custom --model mynet.py:Net --data digits
      dlcli train custom --model 'mynet.py:Net(width=32)' --data photos/
      dlcli train custom --data cifar10 --epochs 20 \\
        --model 'torchvision.models:resnet18(num_classes=10)'
    """

FAMILY = Family(
    name="custom",
    config_cls=CustomConfig,
    build=build_custom,
    help=HELP,
    layout="config",
    footprint=footprint,
    describe=describe,
    example_prefix="--model mynet.py:Net",
    train_defaults={"epochs": 10},
)

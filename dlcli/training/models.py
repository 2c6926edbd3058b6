"""Model families: a typed `@dataclass` config per family, a builder, and the registry.

A family is registered with `@register_model(name, config_cls, layout=...)` on its builder
`build(config, input_shape, num_classes) -> nn.Module`. `layout` says what the model eats
(`flat` (N, F), `image` (N, C, H, W), `sequence` (N, T, F)); the data module reshapes to it.
The config dataclass round-trips through JSON (`config_to_dict` / `config_from_dict`), which is
how `evaluate` and `predict` rebuild a model from a run folder without pickles.

torch is imported inside the builders; importing this module is cheap. The families in
`PLUGIN_MODULES` (resnet, lstm) define their nn.Module classes at top level and import torch:
they load on the first `get_family`, which only code that trains or rebuilds a model calls.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError
from dlcli.training.config import (  # noqa: F401 (re-exported: the families' home)
    ACTIVATIONS,
    DEFAULT_CNN_LAYERS,
    CNNConfig,
    MLPConfig,
    parse_hidden,
)

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelFamily:
    """One registered model family."""

    name: str
    config_cls: type
    # build(config, input_shape, num_classes, **init): `init` as the family's load_data gives
    # it in `Dataset.init` (train time only), e.g. lstm's pretrained `embeddings`.
    build: Callable[..., nn.Module]
    layout: str  # 'flat' | 'image' | 'sequence' | 'config' (the config's `layout_for` decides)
    # Optional: rows for the table printed before training, [{"layer", "output", "params"}, ...].
    describe: Callable[[Any, tuple[int, ...], int], list[dict]] | None = None
    # Optional, for a family with its own kind of data (lstm: text). `load_data(config, data,
    # seed)` returns a Dataset, or None to use the shared loaders; `read_inputs(config, path,
    # sample_shape, target)` returns (raw x, labels or None) for evaluate --data / predict, or None.
    load_data: Callable[..., Any] | None = None
    read_inputs: Callable[..., Any] | None = None

    def layout_for(self, config: Any, sample_shape: tuple[int, ...]) -> str:
        """The layout of a model of this family ('config': the config's `layout_for` says)."""
        return config.layout_for(tuple(sample_shape)) if self.layout == "config" else self.layout


MODELS: dict[str, ModelFamily] = {}


def register_model(
    name: str,
    config_cls: type,
    layout: str,
    describe: Callable[[Any, tuple[int, ...], int], list[dict]] | None = None,
    load_data: Callable[..., Any] | None = None,
    read_inputs: Callable[..., Any] | None = None,
):
    """Decorator: register `build(config, input_shape, num_classes) -> nn.Module` under `name`."""
    if layout not in ("flat", "image", "sequence", "config"):
        raise ValueError(f"unknown layout {layout!r}")

    def decorator(build):
        MODELS[name] = ModelFamily(
            name, config_cls, build, layout, describe, load_data, read_inputs
        )
        return build

    return decorator


def get_family(name: str) -> ModelFamily:
    _load_plugins()
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(
            f"unknown model '{name}': expected one of {', '.join(sorted(MODELS))}"
        ) from None


# Modules that register more families (e.g. 'resnet', 'lstm') are imported on first lookup, so a
# run folder of any family can be rebuilt by `evaluate` without the CLI having imported it first.
PLUGIN_MODULES: list[str] = [
    "dlcli.training.resnet",
    "dlcli.training.recurrent",
    "dlcli.training.custom",
]


def _load_plugins() -> None:
    import importlib

    for module in PLUGIN_MODULES:
        importlib.import_module(module)


def load_family_data(model: str, model_config: Any, data: Any, seed: int) -> Any:
    """The family's own loader when it has one and claims the data, else the shared one."""
    from dlcli.training.data import load_dataset

    family = get_family(model)
    if family.load_data is not None:
        dataset = family.load_data(model_config, data, seed)
        if dataset is not None:
            return dataset
    return load_dataset(data, seed=seed)


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
        if not _json_type_ok(value, str(hints.get(f.name, ""))):
            text = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise InputError(f"'{f.name}' is {text}, not {hints.get(f.name)}")
        if isinstance(value, list) and "tuple" in str(hints.get(f.name, "")):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[f.name] = value
    return config_cls(**kwargs)


def _json_type_ok(value: Any, hint: str) -> bool:
    """Whether a JSON value fits a config field's type hint (its text, e.g. 'int | None',
    'tuple[int, ...]', "<class 'float'>"); hints it does not know pass."""
    if value is None:
        return "None" in hint
    if hint.startswith("tuple["):
        inner = "int" if "int" in hint else "str" if "str" in hint else ""
        return isinstance(value, list) and all(_json_type_ok(v, inner) for v in value)
    if "int" in hint:
        return type(value) is int
    if "float" in hint:
        return type(value) is int or (type(value) is float and math.isfinite(value))
    if "bool" in hint:
        return type(value) is bool
    if "str" in hint:
        return type(value) is str
    return True


def activation_module(name: str) -> nn.Module:
    from torch import nn

    return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[name]()


def _classifier(
    in_features: int, hidden: tuple[int, ...], num_classes: int, activation: str, dropout: float
) -> list[nn.Module]:
    """Linear -> act -> dropout per hidden layer, then the final Linear to class scores."""
    from torch import nn

    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), activation_module(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return layers


# --- mlp ----------------------------------------------------------------------------------------


def _describe_mlp(config: MLPConfig, input_shape: tuple[int, ...], num_classes: int) -> list[dict]:
    rows, width = [], input_shape[0]
    for h in (*config.hidden, num_classes):
        rows.append({"layer": f"linear {width}->{h}", "output": [h], "params": width * h + h})
        width = h
    return rows


@register_model("mlp", MLPConfig, layout="flat", describe=_describe_mlp)
def build_mlp(config: MLPConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from torch import nn

    (features,) = input_shape  # (F,)
    return nn.Sequential(
        *_classifier(features, config.hidden, num_classes, config.activation, config.dropout)
    )


# --- cnn ----------------------------------------------------------------------------------------


def cnn_chain(config: CNNConfig, input_shape: tuple[int, ...]):
    """(parsed layers, featsize ChainSize) for an input (C, H, W): the numbers featsize prints."""
    from dlcli.calculators.featsize import chain_output
    from dlcli.layers import parse_layers

    c, h, w = input_shape
    layers = parse_layers(config.layers)
    return layers, chain_output(layers, (h, w), c)


def _describe_cnn(config: CNNConfig, input_shape: tuple[int, ...], num_classes: int) -> list[dict]:
    _, chain = cnn_chain(config, input_shape)
    rows = [{"layer": "input", "output": [chain.in_channels, *chain.input], "params": None}]
    for ls in chain.layers:
        rows.append(
            {
                "layer": ls.spec,
                "output": [ls.channels, *ls.output],
                "params": ls.params
                if ls.kind in ("conv", "deconv")
                else (2 * ls.channels if ls.kind == "bn" else 0),
            }
        )
    width = chain.out_channels * chain.output[0] * chain.output[1]
    rows.append({"layer": "flatten", "output": [width], "params": 0})
    for h in (*config.hidden, num_classes):
        rows.append({"layer": f"linear {width}->{h}", "output": [h], "params": width * h + h})
        width = h
    return rows


@register_model("cnn", CNNConfig, layout="image", describe=_describe_cnn)
def build_cnn(config: CNNConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from torch import nn

    layers, chain = cnn_chain(config, input_shape)  # raises InputError if the input is too small
    explicit_act = any(layer.kind in ACTIVATIONS for layer in layers)
    modules: list[nn.Module] = []
    channels = input_shape[0]
    for layer, size in zip(layers, chain.layers, strict=True):
        if layer.kind in ("conv", "deconv"):
            d = layer.dims(2)
            out = layer.channels or channels
            if layer.kind == "conv":
                padding = "same" if layer.padding == "same" else d.pad_left
                modules.append(
                    nn.Conv2d(
                        channels, out, d.kernel, d.stride, padding, d.dilation, bias=layer.bias
                    )
                )
            else:
                modules.append(
                    nn.ConvTranspose2d(
                        channels,
                        out,
                        d.kernel,
                        d.stride,
                        d.pad_left,
                        d.output_padding,
                        bias=layer.bias,
                        dilation=d.dilation,
                    )
                )
            channels = out
            if not explicit_act:
                modules.append(activation_module(config.activation))
        elif layer.kind == "maxpool":
            d = layer.dims(2)
            modules.append(
                nn.MaxPool2d(d.kernel, d.stride, d.pad_left, d.dilation, ceil_mode=layer.ceil_mode)
            )
        elif layer.kind == "avgpool":
            d = layer.dims(2)
            modules.append(nn.AvgPool2d(d.kernel, d.stride, d.pad_left, ceil_mode=layer.ceil_mode))
        elif layer.kind in ACTIVATIONS:
            modules.append(activation_module(layer.kind))
        elif layer.kind == "bn":
            modules.append(nn.BatchNorm2d(channels))
        elif layer.kind == "dropout":
            modules.append(nn.Dropout2d(layer.rate if layer.rate is not None else 0.25))
        elif layer.kind == "lrn":
            modules.append(nn.LocalResponseNorm(5))
        else:  # identity
            modules.append(nn.Identity())
        assert size.channels in (None, channels)
    features = channels * chain.output[0] * chain.output[1]
    modules.append(nn.Flatten())
    modules += _classifier(features, config.hidden, num_classes, config.activation, config.dropout)
    return nn.Sequential(*modules)


# --- size, before anything is built -------------------------------------------------------------

# A model is refused before it is built when its float32 weights pass MAX_WEIGHT_BYTES (a
# billion parameters: far beyond a lesson, and training keeps three more copies for the
# gradients and Adam's moments) or one batch's layer outputs pass MAX_ACTIVATION_BYTES. Without
# this a size of 10**30 reached torch as a 1,500-character C++ overflow error, and 10**9 tried to
# allocate terabytes.
MAX_WEIGHT_BYTES = 4 * 10**9
MAX_ACTIVATION_BYTES = 16 * 10**9
FLOAT_BYTES = 4


@dataclass(frozen=True)
class Footprint:
    """What a model of a family needs, counted in Python integers (never overflows)."""

    params: int
    activations: int  # values per sample in the layer outputs (kept for the backward pass)


def footprint(
    model: str, config: Any, input_shape: tuple[int, ...], num_classes: int
) -> Footprint | None:
    """Parameters and per-sample activations of family `model`, without building it (None for
    a family this function does not know)."""
    count = _FOOTPRINTS.get(model)
    return count(config, tuple(input_shape), num_classes) if count else None


def check_model_size(
    model: str, config: Any, input_shape: tuple[int, ...], num_classes: int, batch_size: int
) -> Footprint | None:
    """Refuse (InputError, one line) a model whose weights or one batch's activations would not
    fit; every path that builds a model (train, resume, evaluate, predict) passes here first."""
    from dlcli.files import human_bytes

    shape_ok = bool(input_shape) and all(isinstance(d, int) and d >= 1 for d in input_shape)
    if not shape_ok or num_classes < 1:
        raise InputError(
            f"invalid model input: shape {list(input_shape)} with {num_classes} classes "
            "(expected positive integer sizes)"
        )
    size = footprint(model, config, input_shape, num_classes)
    if size is None:
        return None
    weights = size.params * FLOAT_BYTES
    if weights > MAX_WEIGHT_BYTES:
        raise InputError(
            f"this {model} model needs {human_bytes(weights)} of weights ({size.params:.3g} "
            f"parameters for inputs of shape {'x'.join(map(str, input_shape))}); dlcli builds "
            f"models of up to {human_bytes(MAX_WEIGHT_BYTES)}: choose smaller layers"
        )
    batch = size.activations * FLOAT_BYTES * batch_size
    if batch > MAX_ACTIVATION_BYTES:
        raise InputError(
            f"one batch of {batch_size} through this {model} model needs {human_bytes(batch)} "
            f"for its layer outputs; dlcli's limit is {human_bytes(MAX_ACTIVATION_BYTES)}: lower "
            "--batch-size, the layer sizes or the input size"
        )
    return size


def _dense(widths: list[int]) -> tuple[int, int]:
    """(params, outputs) of Linear layers between consecutive widths."""
    params = sum((a + 1) * b for a, b in zip(widths, widths[1:], strict=False))
    return params, sum(widths[1:])


def _dims(model: str, shape: tuple[int, ...], want: int, what: str) -> None:
    if len(shape) != want:
        raise InputError(f"the {model} takes {what}; this input has shape {list(shape)}")


def _mlp_footprint(config: MLPConfig, shape: tuple[int, ...], classes: int) -> Footprint:
    _dims("mlp", shape, 1, "flat features (F,)")
    params, outputs = _dense([math.prod(shape), *config.hidden, classes])
    return Footprint(params, outputs)


def _cnn_footprint(config: CNNConfig, shape: tuple[int, ...], classes: int) -> Footprint:
    _dims("cnn", shape, 3, "images (C, H, W)")
    _, chain = cnn_chain(config, shape)  # raises InputError if the input is too small
    params = sum(ls.params or 0 for ls in chain.layers)
    params += sum(2 * (ls.channels or 0) for ls in chain.layers if ls.kind == "bn")
    outputs = sum((ls.channels or shape[0]) * math.prod(ls.output) for ls in chain.layers)
    flat = (chain.out_channels or shape[0]) * math.prod(chain.output)
    dense_params, dense_outputs = _dense([flat, *config.hidden, classes])
    return Footprint(params + dense_params, 2 * outputs + dense_outputs)  # 2: conv + activation


def _resnet_footprint(config: Any, shape: tuple[int, ...], classes: int) -> Footprint:
    from dlcli.calculators.featsize import chain_output
    from dlcli.layers import parse_layers

    _dims("resnet", shape, 3, "images (C, H, W)")
    chain = chain_output(parse_layers(",".join(config.specs())), shape[1:], shape[0])
    params = sum((ls.params or 0) + 2 * (ls.channels or 0) for ls in chain.layers)  # conv + bn
    w = config.width  # the 1x1 projections (and their bn) into stages 2 and 3
    params += (w * 2 * w + 2 * 2 * w) + (2 * w * 4 * w + 2 * 4 * w)
    outputs = sum((ls.channels or 0) * math.prod(ls.output) for ls in chain.layers)
    last = chain.out_channels or 0
    return Footprint(params + (last + 1) * classes, 3 * outputs)  # 3: conv, bn, relu


def _recurrent_footprint(config: Any, shape: tuple[int, ...], classes: int) -> Footprint:
    if config.vocab:
        _dims("lstm", shape, 1, "token ids (T,)")
    else:
        _dims("lstm", shape, 2, "sequences (T, F)")
    gates = {"lstm": 4, "gru": 3, "rnn": 1}.get(config.cell, 4)
    dirs = 2 if config.bidirectional else 1
    h, steps = config.hidden_size, shape[0]
    params = 0
    width = shape[-1] if len(shape) > 1 else 1
    if config.vocab:
        params += len(config.vocab) * config.embedding_dim
        width = config.embedding_dim
    for layer in range(config.num_layers):
        inputs = width if layer == 0 else dirs * h
        params += dirs * gates * h * (inputs + h + 2)  # weights and both biases
    outputs = steps * width + config.num_layers * steps * dirs * h * (gates + 1)
    return Footprint(params + (dirs * h + 1) * classes, outputs + classes)


def _custom_footprint(config: Any, shape: tuple[int, ...], classes: int) -> Footprint:
    from dlcli.training.custom import footprint as custom_footprint

    return custom_footprint(config, shape, classes)  # one forward pass on the meta device


_FOOTPRINTS: dict[str, Callable[..., Footprint]] = {
    "mlp": _mlp_footprint,
    "cnn": _cnn_footprint,
    "resnet": _resnet_footprint,
    "lstm": _recurrent_footprint,
    "custom": _custom_footprint,
}


# --- initialisation -----------------------------------------------------------------------------


def apply_init(model: nn.Module, init: str) -> None:
    """'default': PyTorch's own; 'small': weights N(0, 0.01^2), biases 0 (the lesson's x0.01)."""
    from torch import nn

    if init == "default":
        return
    if init != "small":
        raise InputError(f"invalid --init '{init}': expected default or small")
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.ConvTranspose2d):
            nn.init.normal_(module.weight, 0.0, 0.01)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

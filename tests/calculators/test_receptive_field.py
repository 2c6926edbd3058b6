"""receptive-field: the Distill formulas checked against gradients, presets, and the CLI."""

from __future__ import annotations

import json
import math
import warnings

import pytest
from conftest import assert_input_error
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcli.archs import arch_layers, arch_specs
from dlcli.calculators.featsize import chain_output
from dlcli.calculators.receptive_field import chain_field
from dlcli.errors import InputError
from dlcli.layers import parse_layer, parse_layers

torch = pytest.importorskip("torch")


def linear_positive_copy(tokens: list[str], ndim: int):
    """Each spatial layer as a conv with all-positive weights (max pooling becomes averaging):
    linear, so the input gradient of one output unit is non-zero exactly on its field."""
    layers = []
    for token in tokens:
        layer = parse_layer(token)
        if not layer.spatial:
            continue
        dims = layer.dims(ndim)
        conv = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)[ndim - 1](
            1,
            1,
            dims.kernel,
            dims.stride,
            "same" if layer.padding == "same" else dims.pad_left,
            dims.dilation,
            bias=False,
        ).double()
        torch.nn.init.constant_(conv.weight, 1.0 / math.prod(dims.kernel))
        layers.append(conv)
    return torch.nn.Sequential(*layers)


def gradient_field(tokens: list[str], size: tuple[int, ...], unit: tuple[int, ...]):
    """(first, last) input coordinate per dimension with a non-zero gradient for `unit`."""
    net = linear_positive_copy(tokens, len(size))
    x = torch.ones(1, 1, *size, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():  # 'same' with an even kernel: PyTorch warns about a copy
        warnings.simplefilter("ignore", UserWarning)
        out = net(x)
    out[(0, 0, *unit)].backward()
    nonzero = (x.grad[0, 0] != 0).nonzero()
    return tuple((int(nonzero[:, i].min()), int(nonzero[:, i].max())) for i in range(len(size)))


def check_against_gradients(tokens: list[str], ndim: int) -> None:
    field = chain_field(parse_layers(",".join(tokens)), ndim=ndim)
    r, s, p = field.receptive_field, field.effective_stride, field.effective_padding
    # an interior unit: its whole field lies inside the input
    unit = tuple(-(-p[i] // s[i]) + 1 for i in range(ndim))
    size = tuple(unit[i] * s[i] - p[i] + r[i] + 2 * s[i] for i in range(ndim))
    assert all(
        u < n
        for u, n in zip(
            unit, chain_output(parse_layers(",".join(tokens)), size).output, strict=True
        )
    )
    expected = tuple((unit[i] * s[i] - p[i], unit[i] * s[i] - p[i] + r[i] - 1) for i in range(ndim))
    assert gradient_field(tokens, size, unit) == expected, (tokens, r, s, p)


@st.composite
def chains(draw):
    ndim = draw(st.integers(1, 2))
    tokens = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["conv", "maxpool", "avgpool"]))
        k = draw(st.integers(1, 5))
        token = f"{kind}{k}"
        if draw(st.booleans()):
            token += f"s{draw(st.integers(1, 3))}"
        if kind == "conv" and draw(st.booleans()) and "s" not in token[4:]:
            token += "psame"
        else:
            token += f"p{draw(st.integers(0, k // 2))}"
        if kind != "avgpool" and draw(st.booleans()):
            token += f"d{draw(st.integers(1, 3))}"
        tokens.append(token)
    return ndim, tokens


@settings(max_examples=60, deadline=None)
@given(chains())
def test_random_chains_match_gradients(case):
    ndim, tokens = case
    check_against_gradients(tokens, ndim)


def test_per_dimension_kernels_match_gradients():
    check_against_gradients(["conv3x5p1x2", "maxpool2x3s2x1", "conv3x1d2x1"], 2)


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "resnet18", "resnet50", "resnet20"])
def test_presets_match_gradients(name):
    check_against_gradients(arch_specs(name), 1)  # square kernels: one dimension tells all


def test_published_vgg16_figures():
    # google-research receptive_field table: vgg_16 at pool5 sees 212, stride 32, padding 90
    field = chain_field(arch_layers("vgg16"))
    assert field.receptive_field == (212, 212)
    assert field.effective_stride == (32, 32)
    assert field.effective_padding == (90, 90)


def test_three_3x3_see_7x7_like_one_7x7():
    three = chain_field(parse_layers("conv3,conv3,conv3"))
    one = chain_field(parse_layers("conv7"))
    assert three.receptive_field == one.receptive_field == (7, 7)


def test_dilation_counts():
    assert chain_field(parse_layers("conv3d2,conv3d4"), ndim=1).receptive_field == (1 + 4 + 8,)


def test_units_in_padding_match_brute_force():
    size = (20,)
    field = chain_field(parse_layers("conv3p1,maxpool2,conv5p2"), size=size)
    for layer in field.layers:
        r, s, p = layer.receptive_field[0], layer.effective_stride[0], layer.effective_padding[0]
        brute = sum(
            1 for i in range(layer.output[0]) if i * s - p < 0 or i * s - p + r - 1 > size[0] - 1
        )
        assert layer.units_in_padding == (brute,)


def test_deconv_is_refused():
    with pytest.raises(InputError, match="transposed"):
        chain_field(parse_layers("conv3,deconv4s2p1"))


# --- the command line ---------------------------------------------------------------------------


def test_cli_json_contract(invoke):
    result = invoke(
        "receptive-field", "--arch", "vgg16", "--size", "224x224", "--unit", "3,3", "--json"
    )
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["receptive_field"] == [212, 212]
    assert document["effective_stride"] == [32, 32] and document["effective_padding"] == [90, 90]
    assert document["output"] == [7, 7]
    assert document["unit"] == {
        "index": [3, 3],
        "start": [6, 6],
        "end": [217, 217],
        "in_padding": False,
    }
    assert len(document["layers"]) == 18


def test_cli_reads_naturally(invoke):
    result = invoke("receptive-field", "--layers", "conv3,conv3,conv3")
    assert result.exit_code == 0
    assert (
        "sees 7x7 input pixels" in result.stdout and "the same field as one conv7." in result.stdout
    )


@pytest.mark.parametrize(
    "args",
    [
        ["receptive-field", "--size", "32"],
        ["receptive-field", "--layers", "conv3", "--arch", "vgg16"],
        ["receptive-field", "--layers", "conv3,blah"],
        ["receptive-field", "--arch", "lenet"],
        ["receptive-field", "--layers", "conv3", "--size", "2x"],
        ["receptive-field", "--layers", "conv5", "--size", "3"],
        ["receptive-field", "--layers", "conv3", "--size", "8", "--unit", "9"],
        ["receptive-field", "--layers", "conv3", "--unit", "a"],
        ["receptive-field", "--layers", "conv3", "--unit", "1,2,3"],
        ["receptive-field", "--layers", "deconv4s2"],
    ],
)
def test_bad_input_is_one_line_exit_2(invoke, args):
    assert_input_error(invoke(*args))

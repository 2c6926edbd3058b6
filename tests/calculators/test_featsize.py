"""featsize: every size checked against torch.nn itself (the oracle), plus the CLI's contract."""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import assert_input_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlcli.archs import arch_layers
from dlcli.calculators.featsize import chain_output
from dlcli.calculators.target import solve
from dlcli.errors import InputError
from dlcli.layers import parse_layer, parse_layers

torch = pytest.importorskip("torch")
nn = torch.nn


def torch_module(token: str, ndim: int):
    """The torch.nn module a spec token stands for (1 channel in and out)."""
    layer = parse_layer(token)
    dims = layer.dims(ndim)
    padding = "same" if layer.padding == "same" else dims.pad_left
    if layer.kind == "conv":
        conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[ndim - 1]
        return conv(1, 1, dims.kernel, dims.stride, padding, dims.dilation, bias=False)
    if layer.kind == "deconv":
        deconv = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[ndim - 1]
        return deconv(
            1,
            1,
            dims.kernel,
            dims.stride,
            dims.pad_left,
            dims.output_padding,
            dilation=dims.dilation,
            bias=False,
        )
    if layer.kind == "maxpool":
        pool = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)[ndim - 1]
        return pool(
            dims.kernel, dims.stride, dims.pad_left, dims.dilation, ceil_mode=layer.ceil_mode
        )
    if layer.kind == "avgpool":
        pool = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)[ndim - 1]
        return pool(dims.kernel, dims.stride, dims.pad_left, ceil_mode=layer.ceil_mode)
    return nn.Identity()


def torch_shape(tokens: list[str], size: tuple[int, ...]):
    """PyTorch's output size, or None where PyTorch refuses the chain."""
    x = torch.zeros(1, 1, *size)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            for token in tokens:
                x = torch_module(token, len(size))(x)
    except (RuntimeError, ValueError):
        return None
    if 0 in x.shape[2:]:
        # A transposed conv can hand back an empty map instead of raising; nothing can follow
        # it, so dlcli reports a non-positive size as the error DESIGN.md asks for.
        return None
    return tuple(x.shape[2:])


def _nums(draw, ndim, lo, hi):
    if draw(st.booleans()):
        return str(draw(st.integers(lo, hi)))
    return "x".join(str(draw(st.integers(lo, hi))) for _ in range(ndim))


@st.composite
def tokens(draw, ndim: int) -> str:
    kind = draw(st.sampled_from(["conv", "deconv", "maxpool", "avgpool", "relu"]))
    if kind == "relu":
        return "relu"
    token = kind + _nums(draw, ndim, 1, 6)
    if draw(st.booleans()):
        token += "s" + _nums(draw, ndim, 1, 4)
    if kind == "conv" and draw(st.integers(0, 5)) == 0 and "s" not in token[4:]:
        token += "psame"
    elif draw(st.booleans()):
        token += "p" + _nums(draw, ndim, 0, 3)
    if kind in ("conv", "deconv", "maxpool") and draw(st.booleans()):
        token += "d" + _nums(draw, ndim, 1, 3)
    if kind == "deconv" and draw(st.booleans()):
        token += "op" + _nums(draw, ndim, 0, 2)
    if kind in ("maxpool", "avgpool") and draw(st.booleans()):
        token += "ceil"
    return token


@st.composite
def chains(draw):
    ndim = draw(st.integers(1, 3))
    hi = (64, 24, 9)[ndim - 1]
    size = tuple(draw(st.integers(1, hi)) for _ in range(ndim))
    chain = draw(st.lists(tokens(ndim), min_size=1, max_size=4))
    return size, chain


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_random_chains_match_torch(case):
    size, chain = case
    expected = torch_shape(chain, size)
    try:
        got = chain_output(parse_layers(",".join(chain)), size).output
    except InputError:
        got = None
    assert got == expected, (size, chain)


@pytest.mark.parametrize(
    "chain, size",
    [
        (["conv5"], (32,)),
        (["conv5", "conv5"], (32, 32)),
        (["conv4psame"], (9, 10)),  # even kernel: PyTorch pads the odd pixel on the right
        (["conv3d2psame"], (7,)),
        (["maxpool3s2ceil"], (8,)),  # ceil mode: the extra window
        (["maxpool3s2p1ceil"], (6,)),  # ceil mode: the window starting in the padding is dropped
        (["avgpool2s2p1ceil"], (5, 5)),
        (["deconv4s2p1-32"], (16, 16)),
        (["deconv3s2p1op1"], (7,)),
        (["deconv3s2d2op1"], (7,)),
        (["conv3x5s1x2p1x2"], (9, 11)),
        (["maxpool2x3x1"], (4, 6, 5)),
    ],
)
def test_known_cases_match_torch(chain, size):
    assert chain_output(parse_layers(",".join(chain)), size).output == torch_shape(chain, size)


@pytest.mark.parametrize(
    "chain, size",
    [
        (["conv5"], (3,)),  # kernel larger than the padded input
        (["maxpool4p3"], (10,)),  # pool padding over half the kernel
        (["avgpool2p2"], (10, 10)),
        (["deconv3s2op2"], (5,)),  # output padding not smaller than stride or dilation
        (["deconv3p5"], (2,)),  # non-positive output
        (["maxpool3"], (2,)),
    ],
)
def test_pytorch_refusals_are_input_errors(chain, size):
    assert torch_shape(chain, size) is None
    with pytest.raises(InputError):
        chain_output(parse_layers(",".join(chain)), size)


@pytest.mark.parametrize(
    "name", ["alexnet", "vgg11", "vgg16", "vgg19", "resnet18", "resnet50", "resnet20"]
)
def test_presets_match_torch_shapes(name):
    # Every preset is a spec chain, so the torch oracle applies layer by layer.
    from dlcli.archs import arch_specs

    size = (32, 32) if name == "resnet20" else (224, 224)
    expected = torch_shape(arch_specs(name), size)
    assert chain_output(arch_layers(name), size).output == expected


def test_preset_parameter_counts_match_torch():
    # VGG-16's feature extractor has 14,714,688 parameters in torchvision; count them with torch.
    from dlcli.archs import arch_specs

    chain = chain_output(arch_layers("vgg16"), (224, 224), in_channels=3)
    channels, total = 3, 0
    for token in arch_specs("vgg16"):
        layer = parse_layer(token)
        if layer.kind == "conv":
            module = nn.Conv2d(channels, layer.channels, 3, padding=1)
            total += sum(p.numel() for p in module.parameters())
            channels = layer.channels
    assert chain.params == total == 14_714_688


def test_dropped_rows_are_reported():
    result = chain_output(parse_layers("conv3s2"), (8,))
    # windows start at 0, 2, 4: the last covers 4..6, so row 7 is never seen
    assert result.output == (3,) and result.layers[0].dropped == (1,)
    assert chain_output(parse_layers("conv3s2"), (9,)).layers[0].dropped == (0,)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 40),
    k=st.integers(1, 7),
    want=st.integers(1, 40),
    kind=st.sampled_from(["conv", "maxpool", "avgpool", "deconv"]),
)
def test_solver_choices_are_right_and_complete(n, k, want, kind):
    layer = parse_layer(f"{kind}{k}")
    (choices,) = solve(layer, (n,), (want,))
    for c in choices:
        op = f"op{c.output_padding}" if kind == "deconv" else ""
        token = f"{kind}{k}s{c.stride}p{c.padding}{op}"
        assert chain_output(parse_layers(token), (n,)).output == (want,)
    # completeness within the searched range
    max_pad = k // 2 if kind.endswith("pool") else k - 1
    found = {(c.stride, c.padding, c.output_padding) for c in choices}
    for s in range(1, max(n, want) + 1 if kind == "deconv" else n + 1):
        for p in range(max_pad + 1):
            for op in range(s if kind == "deconv" else 1):
                op_t = f"op{op}" if kind == "deconv" else ""
                try:
                    out = chain_output(parse_layers(f"{kind}{k}s{s}p{p}{op_t}"), (n,)).output
                except InputError:
                    continue
                assert (out != (want,)) or (s, p, op) in found


# --- the command line ---------------------------------------------------------------------------


def test_lesson_example(invoke):
    result = invoke("featsize", "32", "-k", "5", "-q")
    assert result.exit_code == 0 and result.stdout == "28\n"
    # -q means the same in every command: only the result; with --json, the JSON document
    quiet_json = invoke("featsize", "32", "-k", "5", "-q", "--json")
    assert quiet_json.exit_code == 0 and json.loads(quiet_json.stdout)["output"] == [28]
    result = invoke("featsize", "32", "--layers", "conv5,conv5", "--json")
    document = json.loads(result.stdout)
    assert document["input"] == [32] and document["output"] == [24]
    assert [layer["output"] for layer in document["layers"]] == [[28], [24]]


def test_single_layer_flags_equal_the_spec(invoke):
    flags = invoke(
        "featsize", "7x9", "-k", "3x2", "-s", "2", "-p", "1", "-t", "maxpool", "--ceil", "--json"
    )
    spec = invoke("featsize", "7x9", "--layers", "maxpool3x2s2p1ceil", "--json")
    assert json.loads(flags.stdout)["output"] == json.loads(spec.stdout)["output"]
    deconv = invoke(
        "featsize",
        "16",
        "-k",
        "4",
        "-s",
        "2",
        "-p",
        "1",
        "-t",
        "deconv",
        "--output-padding",
        "1",
        "-q",
    )
    assert deconv.stdout == "33\n"


def test_per_dimension_json_lists(invoke):
    document = json.loads(invoke("featsize", "224x224", "--arch", "resnet50", "--json").stdout)
    assert document["output"] == [7, 7]
    assert all(len(layer["output"]) == 2 for layer in document["layers"])


def test_table_shows_channels_params_and_drops(invoke):
    result = invoke("featsize", "8", "--layers", "conv3s2-4", "--in-channels", "2")
    assert result.exit_code == 0
    assert "params" in result.stdout and "28" in result.stdout  # 2*4*3 + 4
    assert "drops 1" in result.stdout
    assert "no window covers" in result.stderr


def test_stdin_stream(invoke):
    result = invoke(
        "featsize", "-", "-q", "--layers", "conv3s2p1,conv3s2p1", input="32\n64\n\n16x16\n"
    )
    assert result.exit_code == 0
    # one answer line per input line, the blank one included, so outputs line up with inputs
    assert result.stdout.splitlines() == ["8", "16", "", "4x4"]
    result = invoke("featsize", "-", "--json", "-k", "5", input="32\n3\n\n28\n")
    assert result.exit_code == 2
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["output"] == [28] and rows[3]["output"] == [24]
    assert rows[1]["input"] is None and rows[1]["text"] == "3" and "error" in rows[1]
    assert rows[2]["skipped"] and rows[2]["input"] is None
    assert "line 2" in result.stderr
    # a bad line does not end the stream, whatever the error
    result = invoke("featsize", "-", "-q", "-k", "3", input="3²\n32\n")
    assert result.exit_code == 2 and result.stdout.splitlines() == ["error", "30"]


def test_target_solver_cli(invoke):
    document = json.loads(invoke("featsize", "32", "-k", "5", "--target", "32", "--json").stdout)
    assert document["choices"] == [[{"stride": 1, "padding": 2, "output_padding": 0, "dropped": 0}]]
    result = invoke("featsize", "32", "-k", "5", "--target", "16", "-q")
    assert result.exit_code == 0 and "s2p2" in result.stdout.split()


@pytest.mark.parametrize(
    "args",
    [
        ["featsize", "32"],
        ["featsize", "abc", "-k", "3"],
        ["featsize", "0", "-k", "3"],
        ["featsize", "32x32x32x32", "-k", "3"],
        ["featsize", "32", "-k", "x"],
        ["featsize", "32", "-k", "0"],
        ["featsize", "32", "-k", "3", "-s", "0"],
        ["featsize", "32", "-k", "3", "-p", "-1"],
        ["featsize", "32", "-k", "3", "-p", "whatever"],
        ["featsize", "32", "-k", "3", "-s", "2", "-p", "same"],
        ["featsize", "32", "-k", "3", "-t", "maxpool", "-p", "same"],
        ["featsize", "32", "-k", "3", "-t", "fancy"],
        ["featsize", "32", "-k", "3", "--ceil"],
        ["featsize", "32", "-k", "3", "--output-padding", "1"],
        ["featsize", "32", "-k", "40"],
        ["featsize", "32", "-k", "3", "--layers", "conv3"],
        ["featsize", "32", "--layers", ""],
        ["featsize", "32", "--layers", "conv3,,conv3"],
        ["featsize", "32", "--layers", "conv3,flatten"],
        ["featsize", "32", "--layers", "maxpool2-64"],
        ["featsize", "32", "--layers", "conv3x3"],
        ["featsize", "32", "--arch", "vgg17"],
        ["featsize", "3²", "-k", "3"],
        ["featsize", "3 2", "-k", "3"],
        ["featsize", "32", "--layers", "conv3", "--in-channels", "0"],
        ["featsize", "32", "--layers", "conv3", "--target", "30"],
        ["featsize", "32", "-k", "5", "--target", "31x31"],
        ["featsize", "32", "-k", "5", "--target", "200"],
        ["featsize", "32", "--bogus"],
        ["nonsense"],
    ],
)
def test_bad_input_is_one_line_exit_2(invoke, args):
    assert_input_error(invoke(*args))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="convdeximaxpol0123456789spcilavg-,x .", max_size=30))
def test_parser_never_crashes(spec):
    try:
        parse_layers(spec)
    except InputError:
        pass

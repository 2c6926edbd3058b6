"""`featsize --target`: the bisecting solver against brute force over every stride and padding
on small sizes (same choices, same order), and bounded on huge ones."""

from __future__ import annotations

import json

import pytest
from conftest import assert_input_error, run_dlcli
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcli.calculators.featsize import chain_output
from dlcli.calculators.target import MAX_CHOICES, Choice, solve
from dlcli.errors import InputError
from dlcli.layers import MAX_NUMBER, parse_layer, parse_layers


def brute_force(token: str, n: int, want: int) -> list[Choice]:
    """Every (stride, padding, output padding) in the searched ranges, by the forward formula."""
    layer = parse_layer(token)
    k, d = layer.kernel[0], layer.dilation[0]
    max_pad = k // 2 if layer.is_pool else d * (k - 1)
    max_stride = max(n, want) if layer.kind == "deconv" else n
    found = []
    for s in range(1, max_stride + 1):
        for p in range(max_pad + 1):
            for op in range(max(s, d)) if layer.kind == "deconv" else (0,):
                spec = f"{layer.kind}{k}s{s}p{p}" + (f"d{d}" if d > 1 else "")
                spec += f"op{op}" if layer.kind == "deconv" else ""
                spec += "ceil" if layer.ceil_mode else ""
                try:
                    result = chain_output(parse_layers(spec), (n,))
                except InputError:
                    continue
                if result.output == (want,):
                    found.append(Choice(s, p, op, result.layers[0].dropped[0]))
    return found


@st.composite
def layers(draw) -> str:
    kind = draw(st.sampled_from(["conv", "deconv", "maxpool", "avgpool"]))
    token = f"{kind}{draw(st.integers(1, 7))}"
    if kind != "avgpool" and draw(st.booleans()):
        token += f"d{draw(st.integers(2, 3))}"
    if kind.endswith("pool") and draw(st.booleans()):
        token += "ceil"
    return token


@settings(max_examples=300, deadline=None)
@given(layers(), st.integers(1, 40), st.integers(1, 40))
def test_solver_is_brute_force(token, n, want):
    (choices,) = solve(parse_layer(token), (n,), (want,))
    assert list(choices) == brute_force(token, n, want)
    assert not choices.truncated


@settings(max_examples=60, deadline=None)
@given(
    layers(),
    st.integers(1, MAX_NUMBER // 8),
    st.integers(1, 64),
)
def test_huge_sizes_are_solved_at_once_and_right(token, n, want):
    layer = parse_layer(token)
    (choices,) = solve(layer, (n,), (want,), limit=50)
    assert len(choices) <= 50
    for c in choices:  # every listed choice gives the target (checked by the forward formula)
        spec = f"{layer.kind}{layer.kernel[0]}s{c.stride}p{c.padding}"
        spec += f"d{layer.dilation[0]}" if layer.dilation[0] > 1 else ""
        spec += f"op{c.output_padding}" if layer.kind == "deconv" else ""
        spec += "ceil" if layer.ceil_mode else ""
        assert chain_output(parse_layers(spec), (n,)).output == (want,)
    assert [(c.stride, c.padding, c.output_padding) for c in choices] == sorted(
        (c.stride, c.padding, c.output_padding) for c in choices
    )


def test_the_issue_cases(invoke):
    # 10**7 -> 16 with kernel 5 took 21 s listing ~200,000 choices: now the first 1,000
    result = invoke("featsize", "10000000", "-k", "5", "--target", "16", "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert len(document["choices"][0]) == MAX_CHOICES and document["truncated"] == [True]
    first = document["choices"][0][0]  # the smallest stride: one less reaches 16 with no padding

    def out(s: int, p: int) -> tuple[int, ...]:
        return chain_output(parse_layers(f"conv5s{s}p{p}"), (10**7,)).output

    assert out(first["stride"], first["padding"]) == (16,)
    assert all(out(first["stride"] - 1, p) != (16,) for p in range(5))
    assert "there are more" in result.stderr
    # 10**30 never ended: it is over PyTorch's 64-bit sizes
    assert_input_error(invoke("featsize", str(10**30), "-k", "5", "--target", "16"), "too large")
    small = json.loads(invoke("featsize", "32", "-k", "5", "--target", "16", "--json").stdout)
    assert small["truncated"] == [False]


def test_a_5000_digit_size_is_one_line_exit_2_in_a_real_process():
    huge = "9" * 5000
    for args in (
        ["featsize", huge, "-k", "3"],
        ["featsize", f"32x{huge}", "-k", "3"],
        ["featsize", "32", "-k", huge],
        ["featsize", "32", "--layers", f"conv3s{huge}"],
        ["featsize", "32", "--layers", f"conv3-{huge}"],
        ["featsize", "32", "-k", "3", "--target", huge],
        ["receptive-field", "--layers", "conv3", "--size", huge],
        ["receptive-field", "--layers", f"conv{huge}"],
        ["receptive-field", "--layers", "conv3", "--size", "32", "--unit", huge],
        ["featsize", "32", "-k", "3", "--in-channels", huge],
    ):
        result = run_dlcli(*args)
        assert result.returncode == 2, (args[:3], result.stderr[-300:])
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("dlcli: error: ")
        assert "Traceback" not in result.stderr
        if "--in-channels" not in args:  # Click's own message repeats the value it refuses
            assert len(result.stderr) < 400


def test_sizes_past_64_bits_are_refused_everywhere(invoke):
    big = str(2**63)
    assert_input_error(invoke("featsize", big, "-k", "3"), "too large")
    assert_input_error(invoke("featsize", "32", "--layers", f"conv3p{big}"), "too large")
    assert_input_error(invoke("receptive-field", "--layers", "conv3", "--size", big), "too large")
    # the largest size PyTorch allows is computed; an output beyond it is refused
    top = str(MAX_NUMBER)
    assert json.loads(invoke("featsize", top, "-k", "3", "--json").stdout)["output"] == [
        MAX_NUMBER - 2
    ]
    assert_input_error(invoke("featsize", top, "-k", "3", "-t", "deconv"), "2**63")  # n + 2
    # the library's sizes too
    import dlcli

    with pytest.raises(InputError, match=r"2\*\*63"):
        dlcli.featsize(10**30, 5)
    with pytest.raises(InputError, match=r"2\*\*63"):
        dlcli.receptive_field("conv3", size=2**63)


def test_solve_for_target_is_the_library_face_of_target():
    """`featsize --target` without the CLI: sizes as the command line writes them, the quiet
    answer's tokens, and the message for a dimension nothing reaches."""
    from dlcli.calculators.target import solve_for_target

    solution = solve_for_target(parse_layer("conv5"), "32x20", "16x3")
    assert [c.token for c in solution.choices[0]] == ["s2p2"]
    assert solution.missing == [] and solution.error() is None
    assert solution.to_dict()["target"] == [16, 3]
    assert [c.token for c in solve_for_target(parse_layer("deconv4"), (8,), (16,)).choices[0]] == [
        "s2p1"
    ]
    unreachable = solve_for_target(parse_layer("conv5"), (32, 32), (16, 100))
    assert unreachable.missing == [1]
    assert unreachable.error() == (
        "no stride/padding gives 16x100 from 32x32 with 'conv5' (dimension 2); try another kernel"
    )
    with pytest.raises(InputError, match="one SIZE, not '-'"):
        solve_for_target(parse_layer("conv5"), "-", "16")

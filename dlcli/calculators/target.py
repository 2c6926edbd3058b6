"""`featsize --target`: the strides and paddings that turn one size into another.

    solve_for_target(layer, size, target) -> Solution (the CLI's SIZE and --target strings, or
                                             sizes); `Solution.error()` names the dimensions
                                             that nothing reaches
    solve(layer, size, target)            -> per dimension, the Choices

Bisection over the monotone output formula (`featsize.one_dim`, PyTorch's semantics), each
answer checked by the forward formula; tests/calculators/test_featsize_solve.py holds it to
brute force. Pure Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from dlcli.calculators.featsize import one_dim
from dlcli.errors import InputError
from dlcli.layers import Dims, Layer, parse_size


class Choice(NamedTuple):
    """One way to reach the target size along one dimension."""

    stride: int
    padding: int
    output_padding: int = 0
    dropped: int = 0

    @property
    def token(self) -> str:
        """As a layer spec writes it (`-q`'s answer): s2p1, s2p1op1."""
        return f"s{self.stride}p{self.padding}" + (
            f"op{self.output_padding}" if self.output_padding else ""
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "stride": self.stride,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "dropped": self.dropped,
        }


class Choices(list[Choice]):
    """One dimension's choices, by stride, then padding, then output padding. `truncated`: the
    list stopped at the limit and more choices exist (a large input has many: 10**7 -> 16 with
    kernel 5 has about 200,000)."""

    truncated: bool = False


MAX_CHOICES = 1000


class Solution(NamedTuple):
    """`featsize --target`'s answer: per dimension, the ways to turn `input` into `target`."""

    input: Dims
    target: Dims
    layer: str
    choices: list[Choices]

    @property
    def missing(self) -> list[int]:
        """The dimensions (0-based) that no stride/padding reaches."""
        return [i for i, per_dim in enumerate(self.choices) if not per_dim]

    @property
    def truncated(self) -> list[int]:
        """The dimensions (0-based) whose choices stop at the limit (more exist)."""
        return [i for i, per_dim in enumerate(self.choices) if per_dim.truncated]

    def error(self) -> str | None:
        """The message for dimensions that no stride/padding reaches (None: every one is)."""
        if not self.missing:
            return None
        dims = ", ".join(str(i + 1) for i in self.missing)
        return (
            f"no stride/padding gives {_show(self.target)} from {_show(self.input)} "
            f"with '{self.layer}' (dimension {dims}); try another kernel"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": list(self.input),
            "target": list(self.target),
            "layer": self.layer,
            "choices": [[c.to_dict() for c in per_dim] for per_dim in self.choices],
            "truncated": [per_dim.truncated for per_dim in self.choices],
        }


def solve(layer: Layer, size: Dims, target: Dims, limit: int = MAX_CHOICES) -> list[Choices]:
    """Per dimension, every (stride, padding[, output padding]) that maps `size` to `target`,
    the first `limit` of them where there are more (`Choices.truncated`).

    The kernel and dilation come from `layer`; its stride and padding are ignored. Padding is
    searched up to the dilated kernel's extent d(k-1) (beyond it whole windows see only padding;
    pools are capped at k//2 as PyTorch requires), stride up to the input size (a deconv's: up
    to the larger of input and target). No loop runs over the sizes: the output size is
    monotone in the stride and in the padding, so bisection finds each stride's paddings and
    the strides worth trying; the time grows with the number of choices listed and the logarithm
    of the sizes (tests/calculators/test_featsize_solve.py checks it against brute force).
    """
    if len(target) != len(size):
        raise InputError(
            f"--target has {len(target)} dimension(s) but the input has {len(size)}; "
            "give one value per dimension"
        )
    if not layer.spatial:
        raise InputError(f"layer '{layer.spec}' does not change sizes; nothing to solve")
    dims = layer.dims(len(size))
    answers = []
    for i, (n, want) in enumerate(zip(size, target, strict=True)):
        k, d = dims.kernel[i], dims.dilation[i]
        found = (
            _solve_deconv(n, want, k, d)
            if layer.kind == "deconv"
            else _solve_window(layer, n, want, k, d)
        )
        choices = Choices()
        for choice in found:
            if len(choices) == limit:
                choices.truncated = True
                break
            choices.append(_checked(layer, n, want, k, d, choice))
        answers.append(choices)
    return answers


def solve_target(layer: Layer, size: Dims, target: Dims, limit: int = MAX_CHOICES) -> Solution:
    """`solve` as the document `featsize --target --json` prints."""
    return Solution(size, target, layer.spec, solve(layer, size, target, limit))


def solve_for_target(
    layer: Layer, size: str | Dims, target: str | Dims, limit: int = MAX_CHOICES
) -> Solution:
    """`featsize SIZE -k K --target TARGET`: SIZE and TARGET as the command line gives them
    (`32`, `32x16`) or as sizes; one SIZE, not a stream ('-')."""
    if size == "-":
        raise InputError("--target takes one SIZE, not '-'")
    return solve_target(layer, _dims(size), _dims(target), limit)


def _show(size: Dims) -> str:
    """(28, 28) -> '28x28', as the command line writes a SIZE."""
    return "x".join(map(str, size))


def _dims(size: str | Dims) -> Dims:
    return parse_size(size) if isinstance(size, str) else tuple(size)


def _checked(layer: Layer, n: int, want: int, k: int, d: int, choice: Choice) -> Choice:
    """The choice with its dropped rows, computed (and so checked) by the forward formula."""
    out, dropped = one_dim(
        layer, n, k, choice.stride, choice.padding, choice.padding, d, choice.output_padding
    )
    assert out == want, (choice, out, want)
    return choice._replace(dropped=dropped)


def _first(lo: int, hi: int, pred: Callable[[int], bool]) -> int:
    """The smallest x in [lo, hi] with pred(x) (pred monotone: False then True); hi + 1 if none."""
    while lo <= hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid - 1
        else:
            lo = mid + 1
    return lo


def _solve_window(layer: Layer, n: int, want: int, k: int, d: int) -> Iterator[Choice]:
    """Conv and pools: out(s, p) falls with the stride and rises with the padding (an invalid
    combination counts as the lowest), so for each stride the paddings that give `want` are one
    interval, and the strides with any are between two bisected bounds."""
    max_pad, max_stride = (k // 2 if layer.is_pool else d * (k - 1)), max(n, 1)

    def out(s: int, p: int) -> int:
        try:
            return one_dim(layer, n, k, s, p, p, d, 0)[0]
        except InputError:
            return 0  # below every size

    # strides whose largest output (at the most padding) still reaches want ...
    s_end = _first(1, max_stride, lambda s: out(s, max_pad) < want) - 1

    # ... and whose smallest output (the least valid padding) is not above it
    def least(s: int) -> int:
        p = _first(0, max_pad, lambda p: out(s, p) > 0)
        return out(s, p) if p <= max_pad else 0

    def first_padding(s: int, above: bool) -> int:
        """The least padding whose output reaches `want` (is above it, with `above`)."""
        return _first(0, max_pad, lambda p: out(s, p) > want if above else out(s, p) >= want)

    s = _first(1, s_end, lambda s: 0 < least(s) <= want)
    misses = 0
    while s <= s_end:
        p_lo = first_padding(s, above=False)
        p_hi = first_padding(s, above=True) - 1
        for p in range(p_lo, p_hi + 1):
            yield Choice(s, p)
        # Between the bounds every stride has a padding for `want`, as a stride of 2 or more
        # moves the output by at most 1 per padding step; stride 1 moves it by 2 and may skip.
        misses = 0 if p_lo <= p_hi else misses + 1
        if misses > 10_000:  # a guard for the time only: the reasoning above says unreachable
            return
        s += 1


def _solve_deconv(n: int, want: int, k: int, d: int) -> Iterator[Choice]:
    """Transposed conv: out = (n - 1) s - 2p + d(k - 1) + 1 + op, so 2p - op = t(s) with
    t(s) = (n - 1) s + d(k - 1) + 1 - want, op in [0, max(s, d) - 1]: each stride's paddings
    are one interval, whose bounds rise with the stride."""
    max_pad, max_stride = d * (k - 1), max(n, want)
    span = d * (k - 1) + 1

    def bounds(s: int) -> tuple[int, int]:
        t = (n - 1) * s + span - want
        return -(-t // 2), (t + max(s, d) - 1) // 2  # p from ceil(t/2): op = 2p - t >= 0

    s = max(1, _first(1, max_stride, lambda s: bounds(s)[1] >= 0))
    s_end = _first(1, max_stride, lambda s: bounds(s)[0] > max_pad) - 1
    while s <= s_end:
        lo, hi = bounds(s)
        t = (n - 1) * s + span - want
        for p in range(max(lo, 0), min(hi, max_pad) + 1):
            yield Choice(s, p, 2 * p - t)
        s += 1

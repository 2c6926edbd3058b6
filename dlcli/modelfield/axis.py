"""The receptive field along one spatial axis, as exact integer arithmetic (pure Python).

A path's field is *periodic*: output unit i = q*T + m (0 <= m < T) sees input pixels
start[m] + q*A through end[m] + q*A, in the input's virtual coordinates (padding extends the input
on both sides, as in Araujo et al., "Computing Receptive Fields of Convolutional Neural
Networks", Distill 2019). A plain chain of convolutions has T = 1: start[0] = -P, size r, stride A.
Upsampling and transposed convolution divide the stride (T > 1: a fractional stride A/T).

An op along an axis is a `Gather`: output unit o reads input units J(o), with
J(o + out_period) = J(o) + in_period. The output's field is, per unit, the smallest interval
holding the fields of the units it reads (their hull): exact for the span of the non-zero input
gradient of one unit, which is what the tests check.

Paths through branches are kept apart while they are *aligned* with each other differently:
a class of paths shares the stride and, unit by unit, the centre of its field; within a class only
the hull is kept (aligned paths stay aligned through every op).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import gcd

MAX_PERIOD = 4096  # beyond this a field is not tracked exactly (an unknown, never a guess)

Window = tuple[int, int] | None  # inclusive (start, end); None: the unit reads nothing


@dataclass(frozen=True)
class Gather:
    """Output unit o = q*out_period + m reads input units reads[m] + q*in_period."""

    out_period: int
    in_period: int
    reads: tuple[tuple[int, ...], ...]  # one tuple per m in 0..out_period-1


@dataclass(frozen=True)
class Periodic:
    """One class of aligned paths: unit q*period + m sees windows[m] shifted by q*advance."""

    period: int
    advance: int
    windows: tuple[Window, ...]

    def window(self, unit: int) -> Window:
        q, m = divmod(unit, self.period)
        w = self.windows[m]
        return None if w is None else (w[0] + q * self.advance, w[1] + q * self.advance)

    @property
    def stride(self) -> Fraction:
        return Fraction(self.advance, self.period)

    def centre(self, unit: int) -> Fraction | None:
        w = self.window(unit)
        return None if w is None else Fraction(w[0] + w[1], 2)

    @property
    def size(self) -> int:
        """The largest window any unit sees."""
        return max((w[1] - w[0] + 1 for w in self.windows if w is not None), default=0)

    def at_period(self, period: int) -> Periodic:
        """The same field written with a multiple of its period."""
        k = period // self.period
        return Periodic(period, self.advance * k, tuple(self.window(m) for m in range(period)))


IDENTITY = Periodic(1, 1, ((0, 0),))


def _hull(windows) -> Window:
    present = [w for w in windows if w is not None]
    if not present:
        return None
    return (min(w[0] for w in present), max(w[1] for w in present))


def reduce(field: Periodic) -> Periodic:
    """The same field with its smallest period."""
    t = field.period
    for d in range(1, t + 1):
        if t % d or (field.advance * d) % t:
            continue
        shift = field.advance * d // t
        if all(_shifted(field.windows[m], shift) == field.windows[m + d] for m in range(t - d)):
            return Periodic(d, shift, field.windows[:d])
    return field


def _shifted(w: Window, shift: int) -> Window:
    return None if w is None else (w[0] + shift, w[1] + shift)


def apply(gather: Gather, field: Periodic) -> Periodic | None:
    """The field after `gather`; None when its period would exceed MAX_PERIOD."""
    k = field.period // gcd(gather.in_period, field.period)
    period = gather.out_period * k
    if period > MAX_PERIOD:
        return None
    advance = field.advance * k * gather.in_period // field.period
    windows = []
    for unit in range(period):
        q, m = divmod(unit, gather.out_period)
        windows.append(_hull(field.window(j + q * gather.in_period) for j in gather.reads[m]))
    return reduce(Periodic(period, advance, tuple(windows)))


def aligned(a: Periodic, b: Periodic) -> bool:
    """Same stride, and every unit's field has the same centre on both."""
    if a.stride != b.stride:
        return False
    period = a.period * b.period // gcd(a.period, b.period)
    return all(a.centre(m) == b.centre(m) for m in range(period))


def hull(a: Periodic, b: Periodic) -> Periodic:
    """Per unit, the smallest window holding both (the strides must agree)."""
    period = a.period * b.period // gcd(a.period, b.period)
    a, b = a.at_period(period), b.at_period(period)
    return reduce(Periodic(period, a.advance, tuple(map(_pair_hull, a.windows, b.windows))))


def _pair_hull(x: Window, y: Window) -> Window:
    return _hull((x, y))


def merge(classes: tuple[Periodic, ...], more: tuple[Periodic, ...]) -> tuple[Periodic, ...]:
    """Add paths to a set of classes: each joins the class it is aligned with, or opens one."""
    result = list(classes)
    for path in more:
        for i, known in enumerate(result):
            if aligned(known, path):
                result[i] = hull(known, path)
                break
        else:
            result.append(path)
    return tuple(result)


# ---- gathers of the ops (per axis) ----------------------------------------------------------


def conv(kernel: int, stride: int, padding: int, dilation: int = 1) -> Gather:
    """Convolution or pooling: unit o reads o*stride - padding + t*dilation, t < kernel."""
    return Gather(1, stride, (tuple(-padding + t * dilation for t in range(kernel)),))


def transposed(kernel: int, stride: int, padding: int, dilation: int = 1) -> Gather:
    """Transposed convolution: unit o gets input j wherever j*stride = o + padding - t*dilation."""
    reads = []
    for m in range(stride):
        taps = [m + padding - t * dilation for t in range(kernel)]
        reads.append(tuple(sorted({v // stride for v in taps if v % stride == 0})))
    return Gather(stride, 1, tuple(reads))


def shift(offset: int) -> Gather:
    """Padding by `offset` units before the first one (negative: cropping)."""
    return Gather(1, 1, ((-offset,),))


def step(start: int, every: int) -> Gather:
    """Slicing x[start::every] along the axis."""
    return Gather(1, every, ((start,),))


def _ratio_period(ratio: Fraction) -> tuple[int, int]:
    """(output units, input units) after which an index map with this ratio repeats."""
    return ratio.denominator, ratio.numerator


def by_coordinate(ratio: Fraction, reads_at) -> Gather | None:
    """A resampling whose unit o reads `reads_at(o)` (input units per output unit = ratio)."""
    if ratio <= 0:
        return None
    out_period, in_period = _ratio_period(ratio)
    if out_period > MAX_PERIOD:
        return None
    return Gather(out_period, in_period, tuple(tuple(reads_at(o)) for o in range(out_period)))


def nearest(ratio: Fraction, exact: bool = False) -> Gather | None:
    """mode='nearest' (floor(o*ratio)) or 'nearest-exact' (floor((o + 1/2)*ratio))."""
    half = Fraction(1, 2) if exact else 0
    return by_coordinate(ratio, lambda o: (int((o + half) * ratio // 1),))


def linear(ratio: Fraction, align_corners: bool, taps: int) -> Gather | None:
    """Linear (taps=2) or cubic (taps=4) interpolation; a tap of weight zero reads nothing."""

    def reads(o: int) -> list[int]:
        x = o * ratio if align_corners else (o + Fraction(1, 2)) * ratio - Fraction(1, 2)
        base = x.numerator // x.denominator
        if x == base:  # lands on a pixel: the other taps weigh exactly zero
            return [base]
        return list(range(base - (taps // 2 - 1), base + taps // 2 + 1))

    return by_coordinate(ratio, reads)


def adaptive(n_in: int, n_out: int) -> Gather | None:
    """Adaptive pooling: unit o reads floor(o*n_in/n_out) .. ceil((o+1)*n_in/n_out) - 1."""
    ratio = Fraction(n_in, n_out)

    def reads(o: int) -> range:
        lo = (o * n_in) // n_out
        hi = -((-(o + 1) * n_in) // n_out)
        return range(lo, hi)

    return by_coordinate(ratio, reads)

"""The seeded, stratified train/validation/test split (an official test set kept as it is)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlcli.errors import InputError

if TYPE_CHECKING:
    import numpy as np

# --- the split ----------------------------------------------------------------------------------


@dataclass
class Split:
    """Indices into the dataset, each sorted ascending."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_indices(
    y: np.ndarray,
    test_fraction: float,
    val_fraction: float,
    seed: int,
    fixed_test: np.ndarray | None = None,
    stratified: bool = True,
) -> Split:
    """A deterministic stratified split: each class is shuffled (seeded) and cut in the fractions.

    Per class c with n_c samples: round(n_c * test_fraction) go to test, round(n_c * val_fraction)
    to validation, the rest to train, so every split keeps the class proportions. Not
    `stratified` (a regression's numeric targets): the samples are one stratum.

    With `fixed_test` (an official test set) the test split is exactly those indices and
    `test_fraction` is not used; validation takes `val_fraction` of the rest, stratified as above.
    """
    import numpy as np

    if not stratified:
        y = np.zeros(len(y), dtype=np.int64)
    if fixed_test is not None:
        test = np.unique(np.asarray(fixed_test, dtype=np.int64))
        rest = np.setdiff1d(np.arange(len(y), dtype=np.int64), test)
        inner = split_indices(y[rest], 0.0, val_fraction, seed)
        return Split(rest[inner.train], rest[inner.val], test)
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(len(idx) * test_fraction))
        n_val = int(round(len(idx) * val_fraction))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    split = Split(**{k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in parts.items()})
    if len(split.train) == 0:
        raise InputError(f"{len(y)} samples leave none for training; use smaller fractions")
    for part, fraction in (("test", test_fraction), ("validation", val_fraction)):
        if fraction > 0 and len(getattr(split, "val" if part == "validation" else part)) == 0:
            raise InputError(_too_few(y, part, fraction))
    return split


def _too_few(y: np.ndarray, part: str, fraction: float) -> str:
    """Why the stratified split left `part` empty: it takes round(n_c * fraction) samples of
    each class c, so a class needs `need` samples to give it one."""
    import numpy as np

    need = 1
    while round(need * fraction) == 0:
        need += 1
    largest = int(np.bincount(np.unique(y, return_inverse=True)[1].ravel()).max())
    option = "--test-fraction" if part == "test" else "--val-fraction"
    return (
        f"{len(y)} samples in {len(np.unique(y))} classes are too few for a {part} split of "
        f"{fraction}: the split takes {fraction} of each class, so a class needs at least {need} "
        f"samples to give it one, and the largest has {largest}; give more data per class or "
        f"{option} 0"
    )

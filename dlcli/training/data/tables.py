"""CSV files: a header row, a label column (`label` or `--target NAME`), every other column
numeric; `.csv.gz`, `.csv.bz2` and `.csv.xz` too (`dlcli.files.open_text`).

numpy's C parser reads a well-formed file; anything it refuses or doubts is read again by the
validating parser, which names the file, line and column of each problem.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

from dlcli.errors import InputError
from dlcli.files import check_regular, open_text, read_errors
from dlcli.training.config import DataConfig
from dlcli.training.data.dataset import Dataset, canonical_label, class_names_of, encode_labels
from dlcli.training.data.kinds import InputKind, RawInputs, Trained

if TYPE_CHECKING:
    import numpy as np


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: '{text}' is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: '{text}' is not a finite number (NaN or infinity)")
    return value


MAX_CSV_LINE = 16 << 20  # bytes in one CSV line: ~1M numeric columns, far beyond an MLP input


def open_csv(path: Path):
    """A CSV file as text for the csv module (compressed or not; a UTF-8 BOM is skipped). A
    line longer than MAX_CSV_LINE is refused as it is read, before it fills memory."""
    return open_text(path, encoding="utf-8-sig", newline="", max_line=MAX_CSV_LINE)


def read_csv_table(
    path: Path,
    target: str | None,
    feature_names: list[str] | None = None,
) -> tuple[np.ndarray, list[str] | None, list[str]]:
    """Parse a CSV: (features (N, F) float32, labels as strings or None, feature column names).

    With `feature_names` (predicting with a trained model) those columns are taken by name and
    `target` is optional; otherwise every column but `target` is a feature.

    numpy's C parser (`np.loadtxt`) reads a well-formed file; anything it refuses or doubts
    (a bad cell, a short row, quotes, NaN) is read again by the validating parser, which
    either accepts it or names the file, line and column of the problem.
    """
    fast = _read_csv_fast(path, target, feature_names)
    if fast is not None:
        return fast
    return _read_csv_checked(path, target, feature_names)


LABEL_EXACT = 1 << 24  # integers up to this are exact in float32: a numeric label column


def _read_csv_fast(
    path: Path, target: str | None, feature_names: list[str] | None
) -> tuple[np.ndarray, list[str] | None, list[str]] | None:
    """`read_csv_table` by np.loadtxt, or None where the validating parser must decide."""
    import numpy as np

    try:
        with open_csv(path) as fh:
            header_line = fh.readline()
            header = [h.strip() for h in next(csv.reader([header_line]), [])]
            if (
                not header
                or not any(header)
                or '"' in header_line
                or len(set(header)) != len(header)
            ):
                return None
            features = [h for h in header if h != target] if feature_names is None else None
            features = feature_names if features is None else features
            if not features or any(f not in header for f in features):
                return None
            if feature_names is None and target not in header:
                return None
            col = {h: i for i, h in enumerate(header)}
            label_idx = col.get(target) if target is not None else None
            # (N, columns) float32, every column: the label column too when it is numeric
            table = np.loadtxt(
                fh, delimiter=",", dtype=np.float32, comments=None, ndmin=2, encoding=None
            )
    except InputError:  # a line too long (open_csv): the validating parser would say the same
        raise
    except Exception:  # noqa: BLE001 (the validating parser explains, or accepts, the file)
        return None
    if table.shape[0] == 0 or table.shape[1] != len(header) or not np.isfinite(table).all():
        return None
    feat_idx = [col[f] for f in features]
    if label_idx is not None and feat_idx == [i for i in range(len(header)) if i != label_idx]:
        x = np.delete(table, label_idx, axis=1)  # slices copied, faster than a column gather
    else:
        x = table[:, feat_idx] if feat_idx != list(range(table.shape[1])) else table
    labels = None
    if label_idx is not None:
        column = table[:, label_idx]
        if np.all(column == np.round(column)):
            if not np.all(np.abs(column) < LABEL_EXACT):
                return None  # 1e9: labels kept as written, read by the validating parser
            values, inverse = np.unique(column.astype(np.int64), return_inverse=True)
            names = [str(v) for v in values.tolist()]
        else:  # a measurement (a regression target): each value's shortest float32 text
            values, inverse = np.unique(column, return_inverse=True)
            names = [str(v) for v in values]  # np.float32's str: '0.1234', as float() reads it
        labels = [names[i] for i in inverse.tolist()]
    del table
    return np.ascontiguousarray(x), labels, list(features)


def _read_csv_checked(
    path: Path,
    target: str | None,
    feature_names: list[str] | None = None,
) -> tuple[np.ndarray, list[str] | None, list[str]]:
    """The validating parser: every cell checked, problems named by file, line and column."""
    import numpy as np

    try:
        with open_csv(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise InputError(f"{path}: the file is empty; expected a header row and data rows")
            header = [h.strip() for h in header]
            features = _feature_columns(path, header, target, feature_names)
            col = {h: i for i, h in enumerate(header)}
            feat_idx = [col[f] for f in features]
            label_idx = col.get(target) if target is not None else None
            rows: list[list[float]] = []
            labels: list[str] = []
            for lineno, row in enumerate(reader, start=2):
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                if len(row) != len(header):
                    raise InputError(
                        f"{path}:{lineno}: expected {len(header)} columns as in the header, "
                        f"got {len(row)}"
                    )
                rows.append(
                    [
                        _number(row[i].strip(), f"{path}:{lineno}: column '{header[i]}'")
                        for i in feat_idx
                    ]
                )
                if label_idx is not None:
                    label = row[label_idx].strip()
                    if not label:
                        raise InputError(f"{path}:{lineno}: column '{target}': empty label")
                    labels.append(canonical_label(label))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except read_errors() as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV ({exc})") from None
    if not rows:
        raise InputError(f"{path}: has a header but no data rows")
    return np.asarray(rows, dtype=np.float32), (labels if label_idx is not None else None), features


def _feature_columns(
    path: Path, header: list[str], target: str | None, feature_names: list[str] | None
) -> list[str]:
    """The feature columns: every column but the label (training), or the model's own."""
    if feature_names is not None:
        missing = [f for f in feature_names if f not in header]
        if missing:
            raise InputError(
                f"{path}: missing feature column(s) {', '.join(missing[:5])} "
                "that the model was trained on"
            )
        return feature_names
    if target not in header:
        raise InputError(
            f"{path}: no label column '{target}' in the header "
            f"(columns: {', '.join(header[:12])}{', ...' if len(header) > 12 else ''}); "
            "name it with --target"
        )
    features = [h for h in header if h != target]
    if not features:
        raise InputError(f"{path}: no feature columns besides the label '{target}'")
    return features


def csv_table(
    path: Path, target: str | None, feature_names: list[str] | None = None
) -> tuple[np.ndarray, list[str] | None, list[str]]:
    """`read_csv_table` for a user's file: a regular file first, and numbers beyond float32's
    range (which the cast turns into infinity, with numpy's warning) an error naming them."""
    import numpy as np

    check_regular(path, "data file")
    with np.errstate(over="ignore", invalid="ignore"):
        x, labels, features = read_csv_table(path, target, feature_names)
    if not np.isfinite(x).all():
        row, column = np.argwhere(~np.isfinite(x))[0].tolist()
        raise InputError(
            f"{path}: data row {row + 1}, column '{features[column]}': the value is beyond "
            "float32's range (about ±3.4e38, the precision dlcli computes in); rescale the data"
        )
    return x, labels, features


def load_csv(path: Path, target: str) -> Dataset:
    x, labels, features = csv_table(path, target)
    assert labels is not None
    names = class_names_of(labels)
    return Dataset(
        x=x,
        y=encode_labels(labels, names, path),
        class_names=names,
        name=str(path),
        feature_names=features,
    )


def load(config: DataConfig, source: str, path: Path, seed: int) -> Dataset:
    targets = target_columns(config.target)
    if len(targets) > 1:
        return load_csv_targets(path, targets)
    dataset = load_csv(path, targets[0])
    dataset.target_names = targets
    return dataset


def target_columns(target: str | None) -> list[str]:
    """--target as column names: 'label' by default, 'a,b' for several regression targets."""
    names = [t.strip() for t in (target or "label").split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise InputError(f"invalid --target '{target}': expected NAME or distinct NAME,NAME,...")
    return names


def load_csv_targets(path: Path, targets: list[str]) -> Dataset:
    """Several numeric target columns (regression, one output each): y float32 (N, T)."""
    with open_csv(path) as fh:
        header = [h.strip() for h in next(csv.reader(fh), [])]
    missing = [t for t in targets if t not in header]
    if missing:
        raise InputError(
            f"{path}: no target column(s) {', '.join(missing)} in the header "
            f"(columns: {', '.join(header[:12])}{', ...' if len(header) > 12 else ''})"
        )
    features = [h for h in header if h not in targets]
    if not features:
        raise InputError(f"{path}: no feature columns besides the targets")
    x, _, _ = csv_table(path, None, feature_names=features)
    try:
        y, _, _ = csv_table(path, None, feature_names=targets)  # names file:line of a text cell
    except InputError as exc:
        raise InputError(f"{exc}: regression targets (--target) must be numbers") from None
    return Dataset(
        x=x, y=y, class_names=[], name=str(path), feature_names=features, target_names=targets
    )


def labelled(
    trained: Trained, source: str, path: Path, label: str | None
) -> tuple[np.ndarray, list[str]]:
    """evaluate --data: the model's feature columns by name, and the labels."""
    if trained.feature_names is None:
        raise InputError(f"{path}: the model was not trained on CSV features")
    x, labels, _ = csv_table(path, label or "label", feature_names=trained.feature_names)
    if labels is None:
        raise InputError(f"{path}: no label column '{label or 'label'}'")
    return x, labels


def inputs(trained: Trained, path: Path) -> RawInputs:
    """predict: one input per row (images given as one row of pixels each)."""
    x, _, _ = csv_table(path, None, feature_names=_csv_features(trained, path))
    x = x.reshape(len(x), *trained.sample_shape)
    return RawInputs([f"{path}:{i + 1}" for i in range(len(x))], x)


def _csv_features(trained: Trained, path: Path) -> list[str]:
    """The CSV columns to read: the training columns by name; for a model trained on other data
    (digits, images, .npz), every column but the label, as many as the model has inputs."""
    if trained.feature_names is not None:
        return trained.feature_names
    with open_csv(path) as fh:
        header = [h.strip() for h in next(csv.reader(fh), [])]
    features = [h for h in header if h != (trained.data.target or "label")]
    want = math.prod(trained.sample_shape)
    if len(features) != want:
        raise InputError(
            f"{path}: {len(features)} feature columns; the model takes {want} values "
            f"per input ({'x'.join(map(str, trained.sample_shape))})"
        )
    return features


KIND = InputKind(
    "csv",
    load=load,
    labelled=labelled,
    inputs=inputs,
    suffixes=(".csv",),
    compressed=True,
    takes_target=True,
)

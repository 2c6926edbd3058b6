"""Datasets for every model: the input kinds, the split and the preprocessing.

A `--data` source (or a `predict` input) is of one input kind, each in its own module:

    builtin.py   digits (8x8 handwritten digits, shipped) and spiral[:n=100,classes=3,noise=0.2]
    named.py     mnist, fashion-mnist, cifar10, cifar100: downloaded once (`dlcli.datasets`),
                 their official test set kept as the test split
    tables.py    PATH.csv (.gz, .bz2, .xz): a header row, a label column (`label` or --target)
    arrays.py    PATH.npz (x, y) or PATH.npy (+ NAME.labels.npy), memory-mapped where it can be
    folders.py   DIR/<class>/*.png|jpg image folders, and image files for predict
                 (decoding in images.py)
    text.py      text CSVs and .txt files, read by the families that take text (train lstm)

`registry.py` lists the kinds (`KINDS`) and dispatches on them: `input_kind` says what a source
is, `load_dataset` loads it for training, `registry.read_labelled` for `evaluate --data` and
`registry.read_raw` for `predict`. Then, whatever the kind: `dataset.py` (the `Dataset` and the
checks every training set passes), `split.py` (the seeded stratified train/val/test split; a
regression run's is one stratum: `stratified=False`, `runs.spec.run_split`) and
`preprocess.py` (the family's layout, per-batch conversion, `Standardizer` with train statistics,
saved with the model so `evaluate` and `predict` apply exactly the same preprocessing).
A kind reads labels as it finds them (class names); a regression run turns a numeric label
column into float targets (`engine.tasks.Regression.adapt`), and a kind that reads several
numeric targets at once (CSV `--target a,b`, an `.npz` whose `y` is (N, T)) returns them as
`Dataset.y` float32 (N, T) with `target_names` and no class names.

Every problem with the input is an `InputError` naming the file (and line and column where there
is one), raised before anything is written. numpy and Pillow are imported inside functions.

Adding an input kind is one new module plus one line in `registry.KINDS`. A tab-separated file
(header row, a `label` column, numeric features), as `dlcli/training/data/tsv.py`::

    from pathlib import Path

    from dlcli.errors import InputError
    from dlcli.training.config import DataConfig
    from dlcli.training.data.dataset import Dataset, class_names_of, encode_labels
    from dlcli.training.data.kinds import InputKind


    def load(config: DataConfig, source: str, path: Path, seed: int) -> Dataset:
        import numpy as np

        header, *rows = [line.split("\\t") for line in path.read_text().splitlines() if line]
        target = config.target or "label"
        if target not in header:
            raise InputError(f"{path}: no label column '{target}'")
        label = header.index(target)
        labels = [row[label].strip() for row in rows]
        names = class_names_of(labels)
        x = np.array([[float(v) for i, v in enumerate(row) if i != label] for row in rows])
        return Dataset(
            x=x.astype(np.float32),
            y=encode_labels(labels, names, path),
            class_names=names,
            name=str(path),
            feature_names=[h for i, h in enumerate(header) if i != label],
        )


    KIND = InputKind("tsv", load=load, suffixes=(".tsv",), takes_target=True)

and in `registry.KINDS`, the line `tsv.KIND,`. `dlcli train mlp --data table.tsv` then trains on
it; give the kind `labelled` and `inputs` readers (see `kinds.py`) for `evaluate --data` and
`predict`. tests/training/test_training_data.py registers this very kind and trains on it.
"""

from dlcli.training.config import DataConfig
from dlcli.training.data.builtin import SAMPLE_DATA, load_digits
from dlcli.training.data.dataset import Dataset, class_names_of
from dlcli.training.data.images import DecodeProgress, reporting_decode
from dlcli.training.data.preprocess import (
    Rows,
    Standardizer,
    as_model_values,
    layout_shape,
    stored_per_batch,
    to_layout,
)
from dlcli.training.data.registry import input_kind, load_dataset
from dlcli.training.data.split import Split, split_indices

__all__ = [
    "SAMPLE_DATA",
    "DataConfig",
    "Dataset",
    "DecodeProgress",
    "Rows",
    "Split",
    "Standardizer",
    "as_model_values",
    "class_names_of",
    "input_kind",
    "layout_shape",
    "load_dataset",
    "load_digits",
    "reporting_decode",
    "split_indices",
    "stored_per_batch",
    "to_layout",
]

"""The standard datasets dlcli knows by name: their original files, origins and checksums.

    DATASETS            name -> DatasetInfo (files, origin URLs, classes, sizes, source)
    get(name)           -> DatasetInfo, or an InputError listing the names
    is_named(source)    -> True for a registered name ('cifar10'; not './cifar10', a path)
    registered()        -> {"cifar10/cifar-10-binary.tar.gz": Registered(sha256, size), ...}:
                           the shipped checksums.txt, then the lines of $DLCLI_DATA_REGISTRY
                           over them
    checksums()         -> the same, SHA-256 alone

Every file is the original publisher's, byte for byte, in its original format; a mirror
($DLCLI_DATA_URL) holds the same files under `<URL>/<dataset>/<file>`. Registry files (the
shipped one and $DLCLI_DATA_REGISTRY) hold one `DATASET/FILE SHA256 [BYTES]` line per file; `#`
starts a comment. BYTES, the file's exact size, is what a download stops at; a line without it
(the older two-column form) still reads, and its download stops at the size the publisher
serves (`RemoteFile.size`). $DLCLI_DATA_REGISTRY must be a regular file of at most
MAX_REGISTRY_BYTES (not a FIFO, which would block, nor /dev/zero, which never ends). Standard
library only: `dlcli data list` and `--help` stay fast.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from dlcli.errors import InputError
from dlcli.files import check_regular, read_regular

REGISTRY_ENV = "DLCLI_DATA_REGISTRY"
SHIPPED = Path(__file__).resolve().parent / "checksums.txt"
MAX_REGISTRY_BYTES = 1 << 20  # a registry is a few lines; 1 MiB is thousands of them
_SHA256 = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")
_BYTES = re.compile(r"[0-9]{1,15}")  # below 10**15 bytes (a petabyte)

IDX_FILES = (
    ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
)


@dataclass(frozen=True)
class RemoteFile:
    name: str  # the original file name, as the publisher serves it
    size: int  # bytes, as published (shown by `dlcli data list`; the SHA-256 is what is checked)


@dataclass(frozen=True)
class Registered:
    """A registry entry: the file's SHA-256 and, where the line gives it, its exact size."""

    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    # "images" (train mlp/cnn/resnet), "text" (train lstm), "corpus" (word2vec), "table"
    # (numeric features and targets: train mlp --loss mse)
    kind: str
    title: str
    files: tuple[RemoteFile, ...]
    origins: tuple[str, ...]  # base URLs, the publisher's first; URL + "/" + file name
    classes: int | None
    train: int  # official training examples (corpus: words)
    test: int  # official test examples (corpus: 0)
    shape: tuple[int, ...] | None  # one image (C, H, W)
    source: str  # where it comes from, and what to cite

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "title": self.title,
            "files": [f.name for f in self.files],
            "bytes": sum(f.size for f in self.files),
            "classes": self.classes,
            "train": self.train,
            "test": self.test,
            "shape": list(self.shape) if self.shape else None,
            "origin": self.origins[0],
            "source": self.source,
        }


def _idx(sizes: tuple[int, int, int, int]) -> tuple[RemoteFile, ...]:
    names = (*IDX_FILES[0], *IDX_FILES[1])
    return tuple(RemoteFile(n, s) for n, s in zip(names, sizes, strict=True))


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo(
            "mnist",
            "images",
            "MNIST handwritten digits, 28x28 grey",
            _idx((9_912_422, 28_881, 1_648_877, 4_542)),
            # LeCun's page first; the copy torchvision falls back to holds the same files
            ("http://yann.lecun.com/exdb/mnist", "https://ossci-datasets.s3.amazonaws.com/mnist"),
            10,
            60_000,
            10_000,
            (1, 28, 28),
            "LeCun, Cortes and Burges, http://yann.lecun.com/exdb/mnist/ (LeCun et al., 1998)",
        ),
        DatasetInfo(
            "fashion-mnist",
            "images",
            "Fashion-MNIST clothing, 28x28 grey",
            _idx((26_421_880, 29_515, 4_422_102, 5_148)),
            ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",),
            10,
            60_000,
            10_000,
            (1, 28, 28),
            "Xiao, Rasul and Vollgraf, 2017, https://github.com/zalandoresearch/fashion-mnist",
        ),
        DatasetInfo(
            "cifar10",
            "images",
            "CIFAR-10, 32x32 colour (binary version)",
            (RemoteFile("cifar-10-binary.tar.gz", 170_052_171),),
            ("https://www.cs.toronto.edu/~kriz",),
            10,
            50_000,
            10_000,
            (3, 32, 32),
            "Krizhevsky, 2009, https://www.cs.toronto.edu/~kriz/cifar.html",
        ),
        DatasetInfo(
            "cifar100",
            "images",
            "CIFAR-100 (fine labels), 32x32 colour (binary version)",
            (RemoteFile("cifar-100-binary.tar.gz", 168_513_733),),
            ("https://www.cs.toronto.edu/~kriz",),
            100,
            50_000,
            10_000,
            (3, 32, 32),
            "Krizhevsky, 2009, https://www.cs.toronto.edu/~kriz/cifar.html",
        ),
        DatasetInfo(
            "imdb",
            "text",
            "IMDB movie reviews, sentiment neg/pos",
            (RemoteFile("aclImdb_v1.tar.gz", 84_125_825),),
            ("https://ai.stanford.edu/~amaas/data/sentiment",),
            2,
            25_000,
            25_000,
            None,
            "Maas et al., 2011, https://ai.stanford.edu/~amaas/data/sentiment/",
        ),
        DatasetInfo(
            "boston_housing",
            "table",
            "Boston housing: 13 features of a suburb, its median home value (regression)",
            (RemoteFile("boston_housing.npz", 57_026),),
            ("https://storage.googleapis.com/tensorflow/tf-keras-datasets",),
            None,
            404,  # Keras's split: seed 113, test_split 0.2
            102,
            None,
            "Harrison and Rubinfeld, 1978, via StatLib; Keras's boston_housing.npz "
            "(keras.datasets.boston_housing)",
        ),
        DatasetInfo(
            "text8",
            "corpus",
            "text8: the first 10^8 bytes of cleaned English Wikipedia (word2vec's demo corpus)",
            (RemoteFile("text8.zip", 31_344_016),),
            ("http://mattmahoney.net/dc",),
            None,
            17_005_207,
            0,
            None,
            "Mahoney, http://mattmahoney.net/dc/textdata.html",
        ),
    )
}


def is_named(source: str | os.PathLike[str] | None) -> bool:
    """A registered name as typed: 'cifar10', 'CIFAR10'; './cifar10' or a path is a path."""
    return isinstance(source, str) and source.strip().lower() in DATASETS


def get(name: str) -> DatasetInfo:
    info = DATASETS.get(str(name).strip().lower())
    if info is None:
        raise InputError(f"unknown dataset '{name}': expected one of {', '.join(DATASETS)}")
    return info


def parse_registry(text: str, where: str) -> dict[str, Registered]:
    """`DATASET/FILE SHA256 [BYTES]` lines -> {"DATASET/FILE": Registered}; all fields checked."""
    entries: dict[str, Registered] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        key = fields[0]
        dataset, _, file = key.partition("/")
        match = _SHA256.fullmatch(fields[1]) if len(fields) in (2, 3) else None
        size = fields[2].replace("_", "") if len(fields) == 3 else None
        if match is None or (size is not None and not _BYTES.fullmatch(size)):
            raise InputError(
                f"{where}:{lineno}: expected 'DATASET/FILE SHA256 [BYTES]' (64 hex digits, then "
                f"optionally the size in bytes), got '{line.strip()}'"
            )
        info = DATASETS.get(dataset)
        if info is None:
            raise InputError(
                f"{where}:{lineno}: unknown dataset '{dataset}' (known: {', '.join(DATASETS)})"
            )
        if file not in {f.name for f in info.files}:
            raise InputError(
                f"{where}:{lineno}: {dataset} has no file '{file}' "
                f"(its files: {', '.join(f.name for f in info.files)})"
            )
        entries[key] = Registered(match.group(1).lower(), None if size is None else int(size))
    return entries


def registered() -> dict[str, Registered]:
    """The shipped entries with $DLCLI_DATA_REGISTRY's lines over them (a line replaces the
    whole entry: a two-column line there drops the shipped size with the shipped SHA-256)."""
    table = parse_registry(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED))
    override = os.environ.get(REGISTRY_ENV)
    if override:
        path = Path(override).expanduser()
        what = f"{REGISTRY_ENV} file"
        check_regular(path, what)  # a FIFO would block, /dev/zero never end
        try:
            data = read_regular(path, MAX_REGISTRY_BYTES, what)
            text = data.decode("utf-8")
        except FileNotFoundError:
            raise InputError(f"{what} '{path}': no such file") from None
        except UnicodeDecodeError:
            raise InputError(f"{REGISTRY_ENV}={override}: not a UTF-8 text file") from None
        table.update(parse_registry(text, str(path)))
    return table


def checksums() -> dict[str, str]:
    """The registry's SHA-256 of each file it knows."""
    return {key: entry.sha256 for key, entry in registered().items()}

"""The library face of the standard datasets: what `dlcli data list|fetch|path` do, and the
loaders the training and word2vec code call.

    list_datasets()                   -> DatasetList: every name, size, classes, cached, where
    fetch(name, on_progress=None)     -> Fetched: the files downloaded (or found) and verified
    dataset_path(name)                -> DatasetPath: where its files are (or will be)
    load_images(name) / load_texts(name) / load_table(name) / corpus_path(name)
                                      fetch if needed, then read the original format

Results have `to_dict()`, the commands' `--json` documents. Problems raise InputError (an
unknown name: exit 2) or RunFailure (offline, checksum mismatch, no checksum known: exit 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dlcli.datasets import download, registry
from dlcli.datasets.download import CachedFile, ProgressCallback
from dlcli.datasets.types import ImageData, TableData, TextData
from dlcli.errors import InputError


@dataclass
class DatasetStatus:
    info: registry.DatasetInfo
    path: str
    cached: bool

    def to_dict(self) -> dict:
        return {**self.info.to_dict(), "cached": self.cached, "path": self.path}


@dataclass
class DatasetList:
    data_dir: str
    datasets: list[DatasetStatus]

    def to_dict(self) -> dict:
        return {"data_dir": self.data_dir, "datasets": [d.to_dict() for d in self.datasets]}


@dataclass
class Fetched:
    name: str
    path: str  # the dataset's folder in the cache
    files: list[CachedFile] = field(default_factory=list)
    corpus: str | None = None  # text8: the extracted corpus file

    @property
    def downloaded(self) -> int:
        return sum(f.bytes for f in self.files if f.downloaded)

    def to_dict(self) -> dict:
        out = {
            "name": self.name,
            "path": self.path,
            "downloaded_bytes": self.downloaded,
            "files": [f.to_dict() for f in self.files],
        }
        if self.corpus is not None:
            out["corpus"] = self.corpus
        return out


@dataclass
class DatasetPath:
    name: str
    path: str
    cached: bool
    files: list[str]

    def to_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "cached": self.cached, "files": self.files}


def list_datasets() -> DatasetList:
    """Every standard dataset, whether its files are in the cache, and where."""
    return DatasetList(
        str(download.data_dir()),
        [
            DatasetStatus(info, str(download.dataset_dir(name)), download.cached(info))
            for name, info in registry.DATASETS.items()
        ],
    )


def fetch(name: str, on_progress: ProgressCallback | None = None) -> Fetched:
    """Download `name`'s original files into the cache unless they are there and verify; check
    every SHA-256. text8 is also extracted (the corpus `dlcli word2vec` reads)."""
    info = registry.get(name)
    files = download.ensure(info, on_progress)
    result = Fetched(info.name, str(download.dataset_dir(info.name)), files)
    if info.name == "text8":
        from dlcli.datasets.text8 import extract

        result.corpus = str(extract(Path(files[0].path)))
    return result


def dataset_path(name: str) -> DatasetPath:
    """Where `name`'s files are cached (nothing is downloaded)."""
    info = registry.get(name)
    folder = download.dataset_dir(info.name)
    return DatasetPath(
        info.name,
        str(folder),
        download.cached(info),
        [str(folder / f.name) for f in info.files],
    )


def _expect(name: str, kind: str) -> registry.DatasetInfo:
    info = registry.get(name)
    if info.kind != kind:
        use = {
            "images": f"--data {info.name} with 'dlcli train mlp|cnn|resnet'",
            "text": f"--data {info.name} with 'dlcli train lstm'",
            "corpus": f"'dlcli word2vec skipgram {info.name}'",
            "table": f"--data {info.name} with 'dlcli train mlp --loss mse'",
        }[info.kind]
        what = {"images": "an image dataset", "text": "a text dataset", "corpus": "a corpus"}
        what["table"] = "a table of numbers for regression"
        raise InputError(f"'{info.name}' is {what[info.kind]}: use it as {use}")
    return info


def load_images(name: str, on_progress: ProgressCallback | None = None) -> ImageData:
    """An image dataset as uint8 (N, C, H, W), the official test set last (`.test`)."""
    info = _expect(name, "images")
    files = download.ensure(info, on_progress)
    if info.name in ("cifar10", "cifar100"):
        from dlcli.datasets.cifar import load_cifar

        return load_cifar(info.name, Path(files[0].path))
    from dlcli.datasets.idx import load_idx_set

    return load_idx_set(info.name, download.dataset_dir(info.name), info.classes or 10)


def load_texts(name: str, on_progress: ProgressCallback | None = None) -> TextData:
    """A labelled text dataset (imdb): texts and labels, the official test set last."""
    info = _expect(name, "text")
    files = download.ensure(info, on_progress)
    from dlcli.datasets.imdb import load_imdb

    return load_imdb(Path(files[0].path))


def load_table(name: str, on_progress: ProgressCallback | None = None) -> TableData:
    """A table of numbers with numeric targets (boston_housing), the official test rows last."""
    info = _expect(name, "table")
    files = download.ensure(info, on_progress)
    from dlcli.datasets.boston import load_boston

    return load_boston(Path(files[0].path))


def corpus_path(name: str, on_progress: ProgressCallback | None = None) -> Path:
    """A word2vec corpus by name (text8): the extracted file in the cache."""
    info = _expect(name, "corpus")
    return Path(fetch(info.name, on_progress).corpus or "")

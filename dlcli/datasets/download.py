"""The cache of original dataset files: download once, verify by SHA-256, never fetch again.

    data_dir()                  $DLCLI_DATA_DIR, else the platform's user cache folder
                                (~/.cache/dlcli/datasets on Linux)
    dataset_dir(name)           data_dir()/<name>: the original files under their own names
    urls(info, file)            $DLCLI_DATA_URL/<name>/<file>, else the publisher's URL(s)
    ensure(info, on_progress)   every file of a dataset, verified: a cached file whose SHA-256
                                matches is used as it is; anything else is downloaded

A download goes through `dlcli.files.atomic_write`: the bytes land in a temporary file beside
the target, are hashed, and only a file whose SHA-256 matches the registry is renamed into place
(fsynced, with the user's umask mode). A mismatch, a dropped connection or Ctrl-C removes the
temporary file, so nothing that fails the checksum ever carries the final name. The transfer
itself is pooch's HTTP downloader (requests: certifi's CA bundle, proxies from the environment),
imported only when a file is actually downloaded. Progress goes to `on_progress` callbacks;
nothing here prints.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dlcli.datasets.registry import REGISTRY_ENV, DatasetInfo, RemoteFile, checksums
from dlcli.errors import RunFailure
from dlcli.files import atomic_write

DIR_ENV = "DLCLI_DATA_DIR"
URL_ENV = "DLCLI_DATA_URL"
CHUNK = 1 << 20  # bytes per read and per progress event (pooch's default, 1 KiB, is slow)
TIMEOUT = 60  # seconds without a byte before a download is given up


@dataclass
class DownloadProgress:
    """One progress event: `done` of `total` bytes of `file` (total 0: size not announced)."""

    dataset: str
    file: str
    url: str
    done: int
    total: int


ProgressCallback = Callable[[DownloadProgress], None]
# Where downloads report when the caller passes no callback: the CLI sets it around a command
# (`reporting(view)`) so that `dlcli train --data cifar10` shows its download bar, though the
# download happens deep inside the training code.
_REPORT: contextvars.ContextVar[ProgressCallback | None] = contextvars.ContextVar(
    "dlcli_download_progress", default=None
)


@contextlib.contextmanager
def reporting(callback: ProgressCallback | None) -> Iterator[None]:
    """Send the progress of every download inside the `with` block to `callback`."""
    token = _REPORT.set(callback)
    try:
        yield
    finally:
        _REPORT.reset(token)


@dataclass
class CachedFile:
    """A verified file in the cache; `downloaded` is False when it was there already."""

    file: str
    path: str
    bytes: int
    sha256: str
    downloaded: bool
    url: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def data_dir() -> Path:
    """Where datasets are cached: $DLCLI_DATA_DIR, else the user cache folder."""
    override = os.environ.get(DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("dlcli")) / "datasets"


def dataset_dir(name: str) -> Path:
    return data_dir() / name


def urls(info: DatasetInfo, file: str) -> list[str]:
    """Where `file` is fetched from, in order: the mirror alone if $DLCLI_DATA_URL is set."""
    mirror = os.environ.get(URL_ENV)
    if mirror:
        return [f"{mirror.rstrip('/')}/{info.name}/{file}"]
    return [f"{base}/{file}" for base in info.origins]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def expected_sha256(info: DatasetInfo, file: str) -> str:
    """The registry's SHA-256 of a file; a file without one is never downloaded or used."""
    key = f"{info.name}/{file}"
    sha = checksums().get(key)
    if sha is None:
        raise RunFailure(
            f"no SHA-256 is known for {key}, so dlcli will not download or use it: get the "
            f"checksum from a copy you trust (sha256sum {file}) and put the line "
            f"'{key} <sha256>' in a file named by {REGISTRY_ENV} (see 'Standard datasets' "
            "in the README)"
        )
    return sha


def ensure(info: DatasetInfo, on_progress: ProgressCallback | None = None) -> list[CachedFile]:
    """Every file of `info` in the cache, verified (downloaded where missing or damaged)."""
    return [ensure_file(info, f, on_progress) for f in info.files]


def cached(info: DatasetInfo) -> bool:
    """All files present (not hashed: cheap, for `dlcli data list`; use verifies them)."""
    folder = dataset_dir(info.name)
    return all((folder / f.name).is_file() for f in info.files)


def ensure_file(
    info: DatasetInfo, remote: RemoteFile, on_progress: ProgressCallback | None = None
) -> CachedFile:
    sha = expected_sha256(info, remote.name)
    on_progress = on_progress or _REPORT.get()
    folder = dataset_dir(info.name)
    target = folder / remote.name
    if target.is_file():
        if sha256_of(target) == sha:
            return CachedFile(remote.name, str(target), target.stat().st_size, sha, False)
        # damaged or replaced since it was cached: fetched again below, as pooch does
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFailure(f"cannot create the data folder {folder}: {exc.strerror or exc}") from None
    failures: list[str] = []
    mismatch: str | None = None
    for url in urls(info, remote.name):
        try:
            atomic_write(
                target, lambda tmp, u=url: _download(info, remote, u, tmp, sha, on_progress)
            )
        except _Mismatch as exc:
            mismatch = mismatch or str(exc)
            continue
        except _Unreachable as exc:
            failures.append(str(exc))
            continue
        return CachedFile(remote.name, str(target), target.stat().st_size, sha, True, url)
    if mismatch:
        raise RunFailure(mismatch)
    tried = f" (also tried {len(failures) - 1} other URL(s))" if len(failures) > 1 else ""
    raise RunFailure(
        f"{failures[0]}{tried}: download {remote.name} by other means and put it at {target} "
        f"(or point {URL_ENV} at a mirror holding <URL>/{info.name}/{remote.name})"
    )


class _Mismatch(Exception):
    pass


class _Unreachable(Exception):
    pass


class _Progress:
    """The object pooch's downloader drives (total, update, reset, close) -> our callback."""

    def __init__(self, info: DatasetInfo, remote: RemoteFile, url: str, callback) -> None:
        self.event = DownloadProgress(info.name, remote.name, url, 0, 0)
        self.callback = callback
        self.total = 0

    def update(self, n: int) -> None:
        self.event.total = self.total
        self.event.done = min(self.event.done + n, self.total or self.event.done + n)
        self.callback(self.event)

    def reset(self) -> None:
        self.event.done = 0

    def close(self) -> None:
        pass


def _download(
    info: DatasetInfo,
    remote: RemoteFile,
    url: str,
    tmp: Path,
    sha: str,
    on_progress: ProgressCallback | None,
) -> None:
    """Fetch `url` into `tmp` and check its SHA-256 (raising leaves atomic_write to remove it)."""
    import pooch
    import requests

    bar = _Progress(info, remote, url, on_progress) if on_progress else False
    downloader = pooch.HTTPDownloader(progressbar=bar, chunk_size=CHUNK, timeout=TIMEOUT)
    try:
        downloader(url, str(tmp), None)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "error"
        raise _Unreachable(f"cannot download {url} (HTTP {status})") from None
    except (requests.RequestException, OSError) as exc:
        raise _Unreachable(f"cannot download {url} ({_reason(exc)})") from None
    got = sha256_of(tmp)
    if got != sha:
        raise _Mismatch(
            f"{url}: the download does not match its SHA-256 (expected {sha}, got {got}); "
            "the file was removed and nothing was cached"
        )


def _reason(exc: BaseException) -> str:
    """A short reason for a failed request: 'Connection refused', 'timed out', ..."""
    import requests

    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection broke off before the end of the file"
    text = str(exc)
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found[-1].strip()
    if "Connection refused" in text:
        return "Connection refused"
    return " ".join(text.split())[:200] or type(exc).__name__

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
itself (transfer.py) stops at the registered size and gives up on a server that is too slow or
too late (DLCLI_DATA_TIMEOUT, DLCLI_DATA_MIN_RATE, DLCLI_DATA_DEADLINE). A download holds a lock
(flock) on its temporary file; a process killed outright (SIGKILL, a power cut) leaves that
file behind without a holder, and the next download of the same file deletes such leftovers
once they are older than STALE_SPANS spans of DLCLI_DATA_TIMEOUT. Progress goes to
`on_progress` callbacks; nothing here prints.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dlcli.datasets.registry import REGISTRY_ENV, DatasetInfo, Registered, RemoteFile, registered
from dlcli.errors import RunFailure
from dlcli.files import atomic_write, remove_stale_temporaries

DIR_ENV = "DLCLI_DATA_DIR"
URL_ENV = "DLCLI_DATA_URL"
CHUNK = 1 << 20  # bytes per read when hashing
STALE_SPANS = 2  # a temporary file unchanged for this many DLCLI_DATA_TIMEOUT spans, unlocked,
# is a killed download's (a live one writes within every span, or gives up)


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


def expected(info: DatasetInfo, file: str) -> Registered:
    """The registry's entry for a file; a file without one is never downloaded or used."""
    key = f"{info.name}/{file}"
    entry = registered().get(key)
    if entry is None:
        raise RunFailure(
            f"no SHA-256 is known for {key}, so dlcli will not download or use it: get the "
            f"checksum from a copy you trust (sha256sum {file}) and put the line "
            f"'{key} <sha256>' in a file named by {REGISTRY_ENV} (see 'Standard datasets' "
            "in the README)"
        )
    return entry


def expected_sha256(info: DatasetInfo, file: str) -> str:
    """The registry's SHA-256 of a file (see `expected`)."""
    return expected(info, file).sha256


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
    entry = expected(info, remote.name)
    sha = entry.sha256
    on_progress = on_progress or _REPORT.get()
    folder = dataset_dir(info.name)
    target = folder / remote.name
    if target.is_file() and entry.size in (None, target.stat().st_size):
        if sha256_of(target) == sha:
            return CachedFile(remote.name, str(target), target.stat().st_size, sha, False)
        # damaged or replaced since it was cached: fetched again below
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFailure(f"cannot create the data folder {folder}: {exc.strerror or exc}") from None
    _sweep(folder, remote.name)
    failures: list[str] = []
    mismatch: str | None = None
    for url in urls(info, remote.name):
        try:
            atomic_write(target, _fetcher(info, remote, url, entry, on_progress))
        except _Mismatch as exc:
            mismatch = mismatch or str(exc)
            continue
        except _Unreachable as exc:
            failures.append(str(exc))
            continue
        except OSError as exc:  # the temporary file: creating, writing, fsyncing, renaming it
            raise RunFailure(
                f"cannot write in the data folder {folder} ({exc.strerror or exc}); make it "
                f"writable, or point {DIR_ENV} at a folder you can write to"
            ) from None
        return CachedFile(remote.name, str(target), target.stat().st_size, sha, True, url)
    if mismatch:
        raise RunFailure(mismatch)
    tried = f" (also tried {len(failures) - 1} other URL(s))" if len(failures) > 1 else ""
    raise RunFailure(
        f"{failures[0]}{tried}: download {remote.name} by other means and put it at {target} "
        f"(or point {URL_ENV} at a mirror holding <URL>/{info.name}/{remote.name})"
    )


def _sweep(folder: Path, name: str) -> None:
    """Delete the temporary files that killed downloads of `name` left in `folder`."""
    from dlcli.datasets.transfer import Limits

    remove_stale_temporaries(folder, name, STALE_SPANS * Limits.from_env(0).timeout)


class _Mismatch(Exception):
    pass


class _Unreachable(Exception):
    pass


def _fetcher(
    info: DatasetInfo,
    remote: RemoteFile,
    url: str,
    entry: Registered,
    on_progress: ProgressCallback | None,
) -> Callable[[Path], None]:
    """`_download` from `url`, as atomic_write calls its writer: with the temporary path."""

    def fetch(tmp: Path) -> None:
        _download(info, remote, url, tmp, entry, on_progress)

    return fetch


def _download(
    info: DatasetInfo,
    remote: RemoteFile,
    url: str,
    tmp: Path,
    entry: Registered,
    on_progress: ProgressCallback | None,
) -> None:
    """Fetch `url` into `tmp` and check its size and SHA-256 (raising leaves atomic_write to
    remove it). A file registered without its size is bounded by the publisher's."""
    from dlcli.datasets import transfer

    cap = entry.size if entry.size is not None else remote.size
    limits = transfer.Limits.from_env(cap)
    event = DownloadProgress(info.name, remote.name, url, 0, 0)

    def report(done: int, total: int) -> None:
        event.done, event.total = done, total
        if on_progress is not None:
            on_progress(event)

    with open(tmp, "wb") as out:
        _hold(out)  # a live download's file: no sweep deletes it
        try:
            done = transfer.transfer(url, out, cap, entry.size is not None, limits, report)
        except transfer.TooBig as exc:
            raise _Mismatch(f"{url}: {exc}; nothing was cached") from None
        except transfer.Failed as exc:
            raise _Unreachable(f"cannot download {url} ({exc})") from None
    if entry.size is not None and done != entry.size:
        raise _Unreachable(
            f"cannot download {url} (the connection broke off before the end of the file: "
            f"{done} of {entry.size} bytes)"
        )
    got = sha256_of(tmp)
    if got != entry.sha256:
        raise _Mismatch(
            f"{url}: the download does not match its SHA-256 (expected {entry.sha256}, got "
            f"{got}); the file was removed and nothing was cached"
        )


def _hold(fh) -> None:
    """Lock the open temporary file for as long as it is open (where flock exists)."""
    try:
        import fcntl
    except ImportError:  # Windows: the sweep goes by age alone
        return
    # blocking: a sweep may hold it for a moment to test it, and lets go of a fresh file
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)

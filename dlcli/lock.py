"""One writer at a time: a lock on a run folder, a sweep folder or a word2vec `--out` file.

    with Lock(folder / LOCK_NAME, f"run folder '{folder}'"):
        ...  # only this process writes the folder now

The lock is `fcntl.flock` on a lock file (RUN_DIR/.dlcli.lock; `.OUT.lock` beside a word2vec
--out), taken without waiting: a second writer gets an InputError (exit status 2) naming the
process that holds it, whose PID the holder writes into the file. The kernel drops a flock when
its process dies, however it dies (SIGKILL included), so a lock left by a killed process blocks
no one: the file may stay behind, the lock does not. The holder deletes the file when it lets go.

Why flock and not the `filelock` package: filelock's UnixFileLock is this same flock call, but
it waits (or polls) for the lock rather than failing at once with the holder's PID, and it would
be one more dependency for twenty lines. Where fcntl does not exist (Windows), locking is a
no-op. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from dlcli.errors import InputError

LOCK_NAME = ".dlcli.lock"


class Lock:
    """An exclusive, non-blocking lock on `path` (created if missing); `what` names the thing
    locked in the message a second writer gets."""

    def __init__(self, path: Path | str, what: str) -> None:
        self.path, self.what = Path(path), what
        self.fd: int | None = None

    def acquire(self) -> Lock:
        try:
            import fcntl
        except ImportError:  # no flock on this platform: one writer is the user's business
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise InputError(
                    f"cannot write in {self.path.parent} ({exc.strerror or exc}); "
                    "choose a folder you can write to"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_pid(fd)
                os.close(fd)
                by = f"process {holder}" if holder else "another process"
                raise InputError(
                    f"{self.what} is in use by {by} (lock {self.path}); wait for it to end, "
                    "or stop it first"
                ) from None
            # The holder before us may have deleted the file between our open and our flock:
            # then we hold a lock on a file no one else can find. Start again on the new one.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # while still held: no one can lock the old file after this
        os.close(self.fd)  # closing drops the flock
        self.fd = None

    @property
    def held(self) -> bool:
        return self.fd is not None

    def __enter__(self) -> Lock:
        return self if self.held else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None

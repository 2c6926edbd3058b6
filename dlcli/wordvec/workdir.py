"""Where word2vec keeps its working file (the tokenised corpus, as big as the corpus itself).

    with working_folder() as folder:   # $TMPDIR/dlcli-w2v-PID-XXXXXXXX
        ...                            # folder/corpus.txt (corpus.py writes it)

The folder is deleted when the block ends, however it ends (an error, Ctrl-C, SIGTERM). A
process killed outright (SIGKILL, a crash) cannot delete it: the next word2vec run deletes every
dlcli-w2v-PID-* folder whose process PID no longer runs. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

PREFIX = "dlcli-w2v-"


def base_folder() -> Path:
    """The folder that holds the working folders: the system's temporary folder ($TMPDIR)."""
    return Path(tempfile.gettempdir())


@contextlib.contextmanager
def working_folder() -> Iterator[str]:
    """A fresh working folder (named after this process), deleted on the way out."""
    base = base_folder()
    remove_stale(base)
    folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale(base: Path) -> list[Path]:
    """Delete the working folders of processes that are gone; returns the ones deleted."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            pid = _owner(entry.name)
            if pid is None or _alive(pid) or entry.is_symlink() or not entry.is_dir():
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _owner(name: str) -> int | None:
    """The PID in a working folder's name (dlcli-w2v-PID-XXXXXXXX), or None if not one."""
    if not name.startswith(PREFIX):
        return None
    pid, _, rest = name[len(PREFIX) :].partition("-")
    return int(pid) if pid.isdigit() and rest else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's process, alive
        return True
    return True

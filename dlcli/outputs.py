"""The gates for paths the USER named for dlcli to write (compare --plot, word2vec --out,
train/sweep --out), passed before any work: a name that is empty, not UTF-8, in a missing or
unwritable folder, or inside a run or sweep folder (whose files only dlcli names) is refused,
as is a target that exists and is not a regular file (`dlcli.files.refuse_special`), and
`suffix=".png"` wants that ending. Every refusal is one InputError line (exit status 2), raised
before anything is written. Only the standard library and dlcli.files / dlcli.errors.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dlcli.errors import InputError
from dlcli.files import os_reason, read_regular, refuse_special

RUN_MARKERS = (".dlcli.lock", "sweep.json")  # a run or sweep folder's own files (no import of
RUN_CONFIG = "config.json"  # training here: these names are runs/files.py's)
RUN_FORMAT_MARK = b'"format": "dlcli-run/'  # how runs/files.py writes config.json's format


def check_name(path: Path | str, what: str) -> Path:
    """`path` as a Path, if it is a file name dlcli can write and read back: not empty, no NUL
    byte, valid UTF-8 (safetensors and JSON cannot carry other bytes)."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise InputError(f"{what} '{text}' is empty; give a file name")
    if "\0" in text:
        raise InputError(f"{what}: not a valid file name (it holds a NUL byte)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        raise InputError(
            f"{what} '{shown}' is not valid UTF-8; choose a name in UTF-8 (the files dlcli "
            "writes there could not be opened again by name)"
        ) from None
    return Path(text)


def run_folder_of(folder: Path, sweeps: bool = True) -> Path | None:
    """The run or sweep folder that `folder` is or lies inside, or None: one holding a lock file
    or a sweep.json (sweeps=False: not these), or a config.json of dlcli's run format."""
    for here in (folder, *folder.parents):
        try:
            if sweeps and any(os.path.lexists(here / m) for m in RUN_MARKERS):
                return here
            if os.path.lexists(here / RUN_CONFIG):
                head = read_regular(here / RUN_CONFIG, 1 << 26, "config.json")[:4096]
                if RUN_FORMAT_MARK in head:
                    return here
        except (OSError, ValueError):  # InputError included: not ours to judge here
            continue
    return None


def check_output(path: Path | str, what: str, *, suffix: str | None = None) -> Path:
    """The gate for a file the user named (see the module docstring): returns it as a Path, or
    raises the one-line InputError that says why dlcli will not write it. Nothing is written."""
    path = check_name(path, what)
    refuse_special(path, what)
    if suffix is not None and not path.name.lower().endswith(suffix):
        raise InputError(f"{what} '{path}' must end in {suffix}")
    folder = path.absolute().parent
    if not folder.is_dir():
        where = "does not exist" if not os.path.lexists(folder) else "is not a folder"
        raise InputError(f"{what} '{path}': the folder '{path.parent}' {where}; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{what} '{path}': the folder '{path.parent}' is not writable")
    owner = run_folder_of(folder)
    if owner is not None:
        raise InputError(
            f"{what} '{path}' is inside the dlcli folder '{owner}', whose files only dlcli "
            "names; write it somewhere else"
        )
    return path


def check_output_folder(path: Path | str, what: str) -> Path:
    """The gate for a folder the user named for dlcli to fill (train and sweep --out): a valid
    UTF-8 name, not inside a run folder, that is a folder or does not exist yet (runs/state.py
    judges what is inside)."""
    path = check_name(path, what)
    owner = run_folder_of(path.absolute().parent, sweeps=False)
    if owner is not None:
        raise InputError(
            f"{what} '{path}' is inside the run folder '{owner}', whose files only dlcli names; "
            "choose a folder outside it"
        )
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise InputError(f"{what} '{path}': cannot check it ({os_reason(exc)})") from None
    if not stat.S_ISDIR(info.st_mode):
        raise InputError(f"{what} '{path}' exists and is not a folder; choose a new one")
    return path

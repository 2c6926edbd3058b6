"""A run folder's state (`run_state`: not started, resumable, finished), its lock, a new folder.

See the package docstring for what each state means. `run_state` is the one function that
says which a folder is in; `new_run_dir` makes (or reuses) the folder of a new run and holds its
lock (`dlcli.lock`); `remove_leftovers` deletes a killed writer's temporary files. No torch.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from dlcli.errors import InputError
from dlcli.files import check_regular, is_temporary
from dlcli.lock import LOCK_NAME, Lock
from dlcli.outputs import check_output_folder
from dlcli.training.runs.checkpoint import TrainState, newest
from dlcli.training.runs.files import (
    ANIMATION,
    CONFIG,
    METRICS,
    RUN_FILES,
    RUN_FORMAT,
    TENSORBOARD,
    WEIGHTS,
    read_json,
)

NEW, RESUMABLE, FINISHED = "not started", "resumable", "finished"


@dataclass
class RunState:
    """What `run_state` found in a run folder."""

    folder: Path
    state: str  # NEW | RESUMABLE | FINISHED
    status: str | None = None  # config.json's: running, done, interrupted, diverged (None: none)
    epochs: int | None = None  # the run's epoch total (config.json)
    checkpoint: Path | None = None  # the newest complete checkpoint
    trained: int = 0  # epochs in that checkpoint
    stopped_early: bool = False  # that checkpoint's --patience ran out
    foreign: list[str] = field(default_factory=list)  # names no run writes (not ours to delete)

    def describe(self) -> str:
        """'resumable (2 of 4 epochs, status interrupted)' and the like, for messages."""
        if self.state == NEW:
            return "not started" + (f" (status {self.status})" if self.status else "")
        epochs = f"{self.trained} of {self.epochs} epochs" if self.checkpoint else "no checkpoint"
        return f"{self.state} ({epochs}, status {self.status or 'unknown'})"


def run_state(folder: Path) -> RunState:
    """The state of a run folder (see the module docstring). InputError, naming the file, for a
    config.json or checkpoint that is there but unreadable or damaged."""
    folder = Path(folder)
    if not folder.exists():
        return RunState(folder, NEW)
    if not folder.is_dir():
        raise InputError(f"'{folder}' is not a folder")
    names = sorted(os.listdir(folder))
    ours = {*RUN_FILES, ANIMATION, TENSORBOARD, LOCK_NAME}
    foreign = [n for n in names if n not in ours and not is_temporary(n)]
    if CONFIG not in names:
        return RunState(folder, NEW, foreign=foreign)
    config = read_json(folder / CONFIG)
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        raise InputError(f"{folder / CONFIG}: not a dlcli run config")
    status = config.get("status")
    train = config.get("train")
    epochs = train.get("epochs") if isinstance(train, dict) else None
    state = RunState(
        folder,
        NEW,
        status if isinstance(status, str) else None,
        epochs if type(epochs) is int else None,
        foreign=foreign,
    )
    found = newest(folder)
    if found is not None:
        path, metadata = found
        saved = TrainState.from_dict(metadata, path)
        state.checkpoint, state.trained, state.stopped_early = (
            path,
            saved.epoch,
            saved.stopped_early,
        )
    if status == "done":  # a finished run's results that are there but are no files: say so
        for name in (WEIGHTS, METRICS):
            if os.path.lexists(folder / name):
                check_regular(folder / name, f"the finished run's {name}")
    done = status == "done" and all((folder / n).is_file() for n in (WEIGHTS, METRICS))
    if done:
        state.state = FINISHED
    elif found is not None:
        state.state = RESUMABLE
    return state


def lock_run_dir(folder: Path) -> Lock:
    """Hold the run folder's lock (InputError naming the holder if another process has it)."""
    return Lock(Path(folder) / LOCK_NAME, f"run folder '{folder}'").acquire()


def remove_leftovers(folder: Path) -> None:
    """Delete the temporary files a killed writer left (call it holding the folder's lock)."""
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if is_temporary(name):
                with contextlib.suppress(OSError):
                    os.unlink(Path(folder) / name)


def make_folder(out: Path, what: str) -> None:
    """Create `out` (and its parents); an unwritable place is the user's to change (exit 2)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the {what} '{out}' ({exc.strerror or exc}); choose another --out"
        ) from None


def new_run_dir(out: Path | None, model: str) -> tuple[Path, Lock]:
    """Create and lock the run folder: `out` or runs/<model>-<timestamp>. An existing `out` is
    reused when it holds no run that was started (NEW, nothing else in it); a run in it that
    can be resumed or is finished is refused with what to do instead. Returns (folder, lock)."""
    import time

    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{model}-{stamp}"
        out, n = base, 1
        while out.exists():
            n += 1
            out = base.with_name(f"{base.name}-{n}")
    out = check_output_folder(out, "--out")  # UTF-8, a folder or nothing, not in a run folder
    make_folder(out, "run folder")
    lock = lock_run_dir(out)
    try:
        state = run_state(out)
        if state.state != NEW:
            raise InputError(
                f"--out '{out}' holds a {state.describe()} run: continue it with --resume "
                f"{out}, or choose a new --out (or delete the folder to start it again)"
            )
        if state.foreign:
            raise InputError(
                f"--out '{out}' exists and is not an empty folder (it holds "
                f"{', '.join(state.foreign[:3])}, which no run writes); choose a new one"
            )
        for name in (*RUN_FILES, ANIMATION):  # what a run that kept nothing trained left
            with contextlib.suppress(FileNotFoundError):
                os.unlink(out / name)
        remove_leftovers(out)
    except BaseException:
        lock.release()
        raise
    return out, lock

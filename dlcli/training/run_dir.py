"""The run folder: every file a training run writes, each written atomically. No pickles.

    RUN_DIR/config.json         everything to rebuild the model and its preprocessing
                                (its schema: spec.RunSpec)
    RUN_DIR/model.safetensors   the weights (the best epoch's with --patience)
    RUN_DIR/history.csv         one row per epoch
    RUN_DIR/metrics.json        the final results (the `--json` document)
    RUN_DIR/curves.png          loss and accuracy per epoch (plots.py draws the pictures)
    RUN_DIR/boundary.png        decision regions, for 2-D data
    RUN_DIR/checkpoint.safetensors   what --resume needs: model, optimizer and RNG tensors, plus
                                the loop's `TrainState` as JSON in the metadata (checkpoint.py)
    RUN_DIR/checkpoint.prev.safetensors   the one before (see `save_checkpoint`)
    RUN_DIR/tensorboard/        --tensorboard: event files (training/tensorboard.py)

Each file goes through `dlcli.files.atomic_write`: a temporary name in the same folder, the
umask's mode, fsync, rename into place, so a reader (or a crash) never sees half a file. A write
that fails (a full disk) is a RunFailure naming the file and saying the run can be resumed.

At every instant a run folder is in one of three states, and `run_state` is the one function
that says which (train --out, resume, evaluate, predict, compare and sweep all ask it):

    NEW        "not started": no folder, an empty one, or one whose run kept nothing trained (a
               config.json alone, from a run killed or diverged before its first checkpoint);
               --out may reuse it
    RESUMABLE  a complete checkpoint and no "done" mark: `resume` trains on from it, or, when
               it has reached the run's epochs, only writes what is missing (weights, history,
               pictures, metrics)
    FINISHED   config.json's status is "done" and model.safetensors and metrics.json exist

The finish writes the weights, history, pictures and metrics first and config.json's "done"
last, so a run killed at any moment is RESUMABLE or FINISHED once it has a checkpoint. A writer
holds RUN_DIR/.dlcli.lock (`dlcli.lock`) and, under it, deletes the temporary files of a killed
writer (`remove_leftovers`). Readers take files only if they are regular files of a sane size
(`dlcli.files.read_regular`), and check a checkpoint's safetensors header before using it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError, RunFailure
from dlcli.files import atomic_write_bytes as _atomic_write_bytes
from dlcli.files import check_regular, is_temporary, read_regular
from dlcli.lock import LOCK_NAME, Lock
from dlcli.outputs import check_output_folder

if TYPE_CHECKING:
    import torch

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
HISTORY = "history.csv"
METRICS = "metrics.json"
CURVES = "curves.png"
BOUNDARY = "boundary.png"
CHECKPOINT = "checkpoint.safetensors"
PREV_CHECKPOINT = "checkpoint.prev.safetensors"
ANIMATION = "boundary.gif"  # --animate
TENSORBOARD = "tensorboard"  # --tensorboard: a folder of event files (training/tensorboard.py)
RUN_FORMAT = "dlcli-run/1"
RUN_FILES = (CONFIG, WEIGHTS, HISTORY, METRICS, CURVES, BOUNDARY, CHECKPOINT, PREV_CHECKPOINT)
MAX_JSON_BYTES = 64 << 20  # config.json, metrics.json, history.csv: far below this in practice
MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit on a header
MAX_JSON_DEPTH = 100  # dlcli's own files nest 4 deep; json.loads recurses (RecursionError)

NEW, RESUMABLE, FINISHED = "not started", "resumable", "finished"


def atomic_write_bytes(path: Path, data: bytes, **kwargs: Any) -> None:
    """`dlcli.files.atomic_write_bytes` for a run folder's files: a failed write (a full disk, a
    folder made read-only) is one line naming the file, and saying the run can go on."""
    try:
        _atomic_write_bytes(path, data, **kwargs)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise RunFailure(
            f"cannot write {path} ({why}); the run folder keeps its last checkpoint: make room "
            f"and continue with --resume {Path(path).parent}"
        ) from None


def write_json(path: Path, document: Any) -> None:
    atomic_write_bytes(path, (json.dumps(document, indent=2) + "\n").encode())


def read_json(path: Path) -> Any:
    """A run folder's JSON file: a regular file of a sane size, UTF-8 (as dlcli writes it; not
    json's guess of UTF-16 or -32), nested no deeper than MAX_JSON_DEPTH."""
    try:
        text = read_regular(path, MAX_JSON_BYTES, "run-folder JSON file").decode("utf-8")
        if _depth(text) > MAX_JSON_DEPTH:
            raise InputError(f"{path}: cannot read (nested deeper than {MAX_JSON_DEPTH} levels)")
        return json.loads(text)
    except FileNotFoundError:
        raise InputError(f"{path}: not found; is this a dlcli run folder?") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot read (not UTF-8 text: byte {exc.start})") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError included
        raise InputError(f"{path}: cannot read ({exc})") from None


def _depth(text: str) -> int:
    """The deepest nesting of brackets in a JSON text (an upper bound: brackets in strings
    count too, which only matters for texts no dlcli writes)."""
    depth = deepest = 0
    for char in re.findall(r"[\[\]{}]", text):
        depth += 1 if char in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def read_text(path: Path) -> str:
    """A run folder's text file (history.csv), as a regular file of a sane size."""
    try:
        return read_regular(path, MAX_JSON_BYTES, "run-folder file").decode()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None


def write_history(path: Path, rows: list[dict]) -> None:
    """history.csv: one row per epoch; columns from the first row."""
    if not rows:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_bytes(path, buf.getvalue().encode(), fresh=True)


# --- tensors -------------------------------------------------------------------------------------


def tensors_bytes(
    tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None
) -> bytes:
    """A safetensors file's bytes, with our JSON metadata under the key 'dlcli'."""
    from safetensors.torch import save

    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return save(flat, metadata={"dlcli": json.dumps(metadata or {})})


def save_tensors(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None
) -> None:
    atomic_write_bytes(path, tensors_bytes(tensors, metadata))


def save_checkpoint(run: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    """Rotate: new -> checkpoint.safetensors, the last one -> checkpoint.prev.safetensors.

    No rename lands on an existing file (that costs an ext4 flush, see `atomic_write`), and at
    every moment one complete checkpoint exists under one of the two names. Every write is
    fsynced: the loop writes at most one a second, and the fsync costs under 1 ms of a 10 ms
    epoch even when it writes after every epoch (`dlcli train mlp`, measured).
    """
    data = tensors_bytes(tensors, metadata)
    atomic_write_bytes(run / CHECKPOINT, data, backup=run / PREV_CHECKPOINT)


def safetensors_metadata(path: Path) -> dict[str, Any]:
    """Our metadata of a safetensors file, after checking its whole layout without torch: a
    regular file, an 8-byte header length, a JSON header whose tensors' byte ranges are in
    bounds and end where the file ends. InputError naming the file when it is not one."""

    def damaged(why: str) -> InputError:
        return InputError(f"{path}: not a complete safetensors file ({why})")

    if not Path(path).exists():
        raise InputError(f"{path}: not found; is this a dlcli run folder?")
    try:
        size = check_regular(path, "safetensors file").st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise damaged(f"{size} bytes")
            n = int.from_bytes(head, "little")
            if n > min(size - 8, MAX_HEADER_BYTES):
                raise damaged("its header length is past the end")
            header = json.loads(fh.read(n))
    except FileNotFoundError:
        raise InputError(f"{path}: not found; is this a dlcli run folder?") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise damaged("its header is not JSON") from None
    if not isinstance(header, dict):
        raise damaged("its header is not a JSON object")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(o) is int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise damaged(f"tensor {name!r} has no valid byte range")
        end = max(end, offsets[1])
    if 8 + n + end != size:
        raise damaged(f"{size} bytes where its header describes {8 + n + end}")
    meta = header.get("__metadata__") or {}
    try:
        document = json.loads(meta.get("dlcli", "{}")) if isinstance(meta, dict) else None
    except (TypeError, ValueError):
        document = None
    if not isinstance(document, dict):
        raise damaged("its dlcli metadata is not a JSON object")
    return document


def load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open

    safetensors_metadata(path)  # a regular file, complete: never mmap a device or a torn file
    if not _utf8_name(path):  # safetensors opens only UTF-8 names: read it by handle instead
        return _load_tensors_by_handle(path)
    try:
        tensors = {}
        with safe_open(str(path), framework="pt") as fh:
            metadata = json.loads((fh.metadata() or {}).get("dlcli", "{}"))
            for key in fh.keys():  # noqa: SIM118 (safe_open is not a dict)
                tensors[key] = fh.get_tensor(key)
    except FileNotFoundError:
        raise InputError(f"{path}: not found; is this a dlcli run folder?") from None
    except Exception as exc:  # safetensors raises its own error types
        raise InputError(f"{path}: not a readable safetensors file ({exc})") from None
    return tensors, metadata


def _utf8_name(path: Path) -> bool:
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return True


def _load_tensors_by_handle(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """load_tensors for a file whose name is not UTF-8 (a folder made under LANG=C): read
    through an open file, never by name, so that a good file is never called damaged."""
    from safetensors.torch import load

    try:
        data = read_regular(path, check_regular(path, "safetensors file").st_size, "weights file")
        tensors = load(data)
        header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
        metadata = json.loads((header.get("__metadata__") or {}).get("dlcli", "{}"))
    except Exception as exc:  # safetensors raises its own error types
        raise InputError(f"{path}: not a readable safetensors file ({exc})") from None
    return tensors, metadata


# --- states, locks, leftovers ------------------------------------------------------------------


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


def newest_checkpoint(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """(path, metadata) of the newest complete checkpoint, or None if the folder has none.

    checkpoint.safetensors cut short (a crash mid-write) falls back to checkpoint.prev; checkpoint
    files that exist but none of them complete are an InputError naming them: a resume must not
    quietly start again at epoch 1."""
    damaged: list[str] = []
    for name in (CHECKPOINT, PREV_CHECKPOINT):
        path = folder / name
        if not os.path.lexists(path):
            continue
        try:
            return path, safetensors_metadata(path)
        except InputError as exc:
            damaged.append(str(exc))
    if damaged:
        names = " and ".join(n for n in (CHECKPOINT, PREV_CHECKPOINT) if (folder / n).exists())
        raise InputError(
            f"{'; '.join(damaged)}; no complete checkpoint is left to resume from: to train "
            f"this run again from epoch 1, delete {names} in {folder} (or the whole folder)"
        )
    return None


def run_state(folder: Path) -> RunState:
    """The state of a run folder (see the module docstring). InputError, naming the file, for a
    config.json or checkpoint that is there but unreadable or damaged."""
    from dlcli.training.checkpoint import TrainState

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
    found = newest_checkpoint(folder)
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

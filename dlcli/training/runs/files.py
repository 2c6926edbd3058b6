"""A run folder's files: their names, atomic writes, and bounded readers (JSON, CSV, tensors).

Every write goes through `atomic_write_bytes` (a failed write is one line saying the run can be
resumed); every read takes a regular file of a sane size. safetensors files carry our JSON
metadata under the key 'dlcli', and `safetensors_metadata` checks a file's whole layout without
torch. See the package docstring for what each file holds. No torch at module level.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError, RunFailure
from dlcli.files import atomic_write_bytes as _atomic_write_bytes
from dlcli.files import check_regular, read_regular

if TYPE_CHECKING:
    import torch

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
HISTORY = "history.csv"
METRICS = "metrics.json"
CURVES = "curves.png"
BOUNDARY = "boundary.png"
FIT = "fit.png"  # regression on one input feature (fitplot.py)
CHECKPOINT = "checkpoint.safetensors"
PREV_CHECKPOINT = "checkpoint.prev.safetensors"
ANIMATION = "boundary.gif"  # --animate
TENSORBOARD = "tensorboard"  # --tensorboard: a folder of event files (engine/tensorboard.py)
RUN_FORMAT = "dlcli-run/1"
RUN_FILES = (CONFIG, WEIGHTS, HISTORY, METRICS, CURVES, BOUNDARY, FIT, CHECKPOINT, PREV_CHECKPOINT)
MAX_JSON_BYTES = 64 << 20  # config.json, metrics.json, history.csv: far below this in practice
MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit on a header
MAX_JSON_DEPTH = 100  # dlcli's own files nest 4 deep; json.loads recurses (RecursionError)


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

"""Image files: finding them in a folder, and decoding them with Pillow into uint8 (N, C, H, W)
pixels, converted to one mode and resized, in threads where that pays, with progress events
(`reporting_decode`). Every unreadable image is an InputError naming the file."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dlcli.errors import InputError
from dlcli.files import check_regular

if TYPE_CHECKING:
    import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def image_files(folder: Path, skipped: list[str] | None = None) -> list[Path]:
    """The image files of a folder, sorted. Entries with an image's name that are not regular
    files (a dangling link, a FIFO, a device) are left out, and named in `skipped` if given."""
    import stat

    found = []
    for p in folder.iterdir():
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        try:
            regular = stat.S_ISREG(p.stat().st_mode)
        except OSError:  # a link to nothing (or a loop of links)
            regular, what = False, "a link to a missing file"
        else:
            what = "a folder" if p.is_dir() else "not a regular file (a FIFO, device or socket)"
        if regular:
            found.append(p)
        elif skipped is not None:
            skipped.append(f"{p}: {what}")
    return sorted(found)


# Pillow's decompression-bomb guard: it warns above MAX_IMAGE_PIXELS and refuses above twice
# that. dlcli refuses above the limit itself (an input error naming the file), so no library
# warning reaches the terminal and nothing between the two limits is decoded half-trusted.
def _open_image(path: Path, load: bool = False, guard: bool = True):
    """Image.open (and with `load`, the decoding) with every failure an InputError naming the
    file: the decompression-bomb guard, and Pillow's warnings about a damaged file ("Corrupt
    EXIF data", which would otherwise print as a raw line), treated as the damage they report.

    guard=False: the caller has set the warning filters already (`_pillow_warnings`), as the
    decoding threads of `read_images` need: `warnings.catch_warnings` is process-wide state,
    not safe to enter from several threads at once."""
    from PIL import Image

    check_regular(path, "image")
    try:
        with _pillow_warnings() if guard else contextlib.nullcontext():
            img = Image.open(path)
            if load:
                try:
                    img.load()
                except BaseException:
                    img.close()
                    raise
            return img
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        limit = Image.MAX_IMAGE_PIXELS
        raise InputError(
            f"{path}: the image has more pixels than Pillow's decompression-bomb limit "
            f"({limit:,} pixels); shrink it before use"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # a decoder fed a damaged file fails in many ways (OSError,
        # SyntaxError, struct.error, IndexError, ...): each means this file cannot be read
        raise InputError(f"{path}: cannot read the image ({type(exc).__name__}: {exc})") from None


@dataclass
class DecodeProgress:
    """One progress event of an image decode: `done` of `total` images of `source`."""

    source: str
    done: int
    total: int


DecodeCallback = Callable[[DecodeProgress], None]
# Where image decoding reports when the caller passes no callback: the CLI sets it around a
# command (`reporting_decode(view)`), as `dlcli.datasets.download.reporting` does for downloads.
_DECODE_REPORT: contextvars.ContextVar[DecodeCallback | None] = contextvars.ContextVar(
    "dlcli_decode_progress", default=None
)
DECODE_REPORT_EVERY = 256  # images between progress events


@contextlib.contextmanager
def reporting_decode(callback: DecodeCallback | None) -> Iterator[None]:
    """Send the progress of every image decode inside the `with` block to `callback`."""
    token = _DECODE_REPORT.set(callback)
    try:
        yield
    finally:
        _DECODE_REPORT.reset(token)


THREADED_PIXELS = 128 * 128  # below this, an image decodes in ~50 us of mostly GIL-held Python


def decode_workers(first: Path | None = None) -> int:
    """Threads that decode images: Pillow releases the GIL while it decodes and resizes, which
    pays for images of THREADED_PIXELS or more (judged by the first image's header); smaller ones
    decode faster in one thread (measured: 2,000 32x32 PNGs, 0.11 s in one, 0.24 s in two)."""
    if first is not None:
        try:
            with _open_image(first) as img:
                if img.size[0] * img.size[1] < THREADED_PIXELS:
                    return 1
        except InputError:
            return 1  # the decode itself will say what is wrong with it
    return max(1, min(8, os.cpu_count() or 1))


def read_images(
    paths: list[Path],
    size: tuple[int, int],
    mode: str,
    workers: int | None = None,
    on_progress: DecodeCallback | None = None,
    source: str = "",
) -> np.ndarray:
    """Images as uint8 (N, C, H, W), converted to `mode` and resized to (H, W); the model sees
    them divided by 255 (`Dataset.pixel_max`). Decoded once, by `workers` threads (default
    `decode_workers()`), each image into its row; progress to `on_progress` (or the callback
    of `reporting_decode`) every DECODE_REPORT_EVERY images."""
    import numpy as np

    h, w = size
    channels = 1 if mode == "L" else 3
    out = np.empty((len(paths), channels, h, w), dtype=np.uint8)
    report = on_progress or _DECODE_REPORT.get()
    if workers is None:
        workers = decode_workers(paths[0] if paths else None)
    workers = max(1, workers)
    total = len(paths)

    def decode(i: int) -> None:
        out[i] = _decode_image(paths[i], (h, w), mode)

    with _pillow_warnings():  # set once here: the decoding threads share the filters
        return _decode_all(decode, total, workers, report, source, out)


def _decode_all(decode, total: int, workers: int, report, source: str, out: np.ndarray):
    """Run `decode(i)` for every image, serially or in `workers` threads, reporting progress."""
    if workers == 1 or total < 2 * DECODE_REPORT_EVERY:
        for i in range(total):
            decode(i)
            if report and ((i + 1) % DECODE_REPORT_EVERY == 0 or i + 1 == total):
                report(DecodeProgress(source, i + 1, total))
        return out
    from concurrent.futures import ThreadPoolExecutor

    def decode_range(start: int) -> int:
        stop = min(total, start + DECODE_REPORT_EVERY)
        for i in range(start, stop):
            decode(i)
        return stop - start

    done = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="dlcli-decode") as pool:
        # map yields in order: the first failing image (in file order) raises its InputError
        for n in pool.map(decode_range, range(0, total, DECODE_REPORT_EVERY)):
            done += n
            if report:
                report(DecodeProgress(source, done, total))
    return out


@contextlib.contextmanager
def _pillow_warnings() -> Iterator[None]:
    """Pillow's warnings as errors (a decompression bomb, a damaged file's "Corrupt EXIF data"),
    except its note on palette transparency, which only concerns the conversion we make."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="Palette images with Transparency")
        yield


def _decode_image(path: Path, size: tuple[int, int], mode: str) -> np.ndarray:
    """One image as uint8 (C, H, W)."""
    import numpy as np
    from PIL import Image

    h, w = size
    try:
        with _open_image(path, load=True, guard=False) as img:
            img = img.convert(mode)
            if img.size != (w, h):  # (resize to the same size is a copy)
                # Image.BILINEAR exists at runtime (set through globals(), which Pillow's
                # typing does not see); Image.Resampling needs Pillow 9.1, we allow 9.0
                img = img.resize((w, h), Image.BILINEAR)  # type: ignore[attr-defined]
            arr = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError, Warning) as exc:  # e.g. a mode Pillow cannot convert
        raise InputError(f"{path}: cannot read the image ({exc})") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def image_mode(paths: list[Path]) -> str:
    """'L' when every image is greyscale, else 'RGB'."""
    for p in paths:
        with _open_image(p) as img:
            if img.mode not in ("1", "L", "LA", "I", "I;16", "F"):
                return "RGB"
    return "L"

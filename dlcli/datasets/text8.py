"""text8 (Mahoney): the first 10^8 bytes of an English Wikipedia dump, cleaned to lower-case
words separated by single spaces, on one line; `text8.zip` holds the one member `text8`.

    extract(archive) -> the corpus file beside the archive (extracted once, atomically; again
                        only when the archive is newer than it or the sizes disagree)

`dlcli word2vec skipgram text8` reads the extracted file like any corpus: the corpus reader cuts
its one long line into pieces at spaces. Standard library only.
"""

from __future__ import annotations

import shutil
import zipfile
import zlib
from pathlib import Path

from dlcli.errors import InputError
from dlcli.files import atomic_write

MEMBER = "text8"
MAX_BYTES = 1 << 30  # the original holds 10^8 bytes; zipfile stops at the size the zip declares


def extract(archive: Path) -> Path:
    out = archive.parent / MEMBER
    try:
        with zipfile.ZipFile(archive) as zf:
            try:
                info = zf.getinfo(MEMBER)
            except KeyError:
                raise InputError(f"{archive}: no member '{MEMBER}' in the zip") from None
            if info.file_size > MAX_BYTES:
                raise InputError(
                    f"{archive}: '{MEMBER}' would unpack to {info.file_size} bytes, more than "
                    f"{MAX_BYTES} (the original has 100,000,000); this is not the text8 archive"
                )
            if out.is_file():
                stat = out.stat()
                if stat.st_size == info.file_size and stat.st_mtime >= archive.stat().st_mtime:
                    return out

            def write(tmp: Path) -> None:
                with zf.open(info) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)

            atomic_write(out, write)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{archive}: not a readable zip ({exc})") from None
    return out

"""The IMDB movie reviews (Maas et al., 2011) from `aclImdb_v1.tar.gz`, read from the archive.

    aclImdb/train/{neg,pos}/<id>_<rating>.txt   25,000 labelled training reviews
    aclImdb/test/{neg,pos}/<id>_<rating>.txt    25,000 labelled test reviews (the official split)

The unlabelled `train/unsup` reviews and the bag-of-words files are not read. Reviews hold HTML
line breaks (`<br />`), read as spaces; texts come out in a fixed order (training first; within
a split neg then pos, by review id), so the seeded validation split is the same on every
machine. A review over MAX_REVIEW bytes, or reviews over MAX_TOTAL bytes in all, are refused
before they are read (the original's longest review has 14 kB, all 50,000 together 66 MB), so a
tampered archive that inflates without end is an error naming it. Standard library only.
"""

from __future__ import annotations

import re
import tarfile
import zlib
from pathlib import Path

from dlcli.datasets.types import TextData
from dlcli.errors import InputError, RunFailure

MEMBER = re.compile(r"aclImdb/(train|test)/(neg|pos)/(\d+)_(\d+)\.txt")
CLASSES = ["neg", "pos"]
MAX_REVIEW = 1 << 20
MAX_TOTAL = 1 << 30


def load_imdb(archive: Path) -> TextData:
    found: list[tuple[int, str, int, str]] = []  # (split 0/1, label, id, text)
    total = 0
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                match = MEMBER.fullmatch(member.name)
                if not (match and member.isfile()):
                    continue
                total += member.size
                if member.size > MAX_REVIEW or total > MAX_TOTAL:
                    raise InputError(
                        f"{archive}: {member.name} brings the reviews to {total} bytes (one is at "
                        f"most {MAX_REVIEW}, all at most {MAX_TOTAL}); this is not the imdb archive"
                    )
                handle = tar.extractfile(member)
                assert handle is not None
                text = handle.read().decode("utf-8", errors="replace").replace("<br />", " ")
                split, label, review = match.group(1), match.group(2), int(match.group(3))
                found.append((0 if split == "train" else 1, label, review, text))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{archive}: not a readable .tar.gz ({exc})") from None
    except MemoryError:
        raise RunFailure(f"{archive}: out of memory while reading the archive") from None
    found.sort(key=lambda r: r[:3])
    n_train = sum(1 for r in found if r[0] == 0)
    if n_train == 0 or n_train == len(found):
        raise InputError(
            f"{archive}: expected reviews under aclImdb/train/{{neg,pos}}/ and "
            "aclImdb/test/{neg,pos}/"
        )
    return TextData("imdb", [r[3] for r in found], [r[1] for r in found], CLASSES, n_train)

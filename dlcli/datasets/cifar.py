"""CIFAR-10 and CIFAR-100 from their binary-version archives (`cifar-10-binary.tar.gz`,
`cifar-100-binary.tar.gz`), read straight from the .tar.gz; never the pickled python version.

    CIFAR-10   cifar-10-batches-bin/data_batch_{1..5}.bin, test_batch.bin:
               records of 1 label byte + 3072 pixel bytes; names in batches.meta.txt
    CIFAR-100  cifar-100-binary/train.bin, test.bin: records of 1 coarse label byte, 1 fine
               label byte + 3072 pixel bytes; the fine labels are the classes, their names in
               fine_label_names.txt

The 3072 bytes of an image are the red, green and blue 32x32 planes, rows in order: (3, 32, 32)
as stored. A member larger than the original's (LIMITS: the official record counts) is refused
before it is read, so a tampered archive that inflates to gigabytes is an error naming it, not
"out of memory". numpy is imported inside functions.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

from dlcli.datasets.types import ImageData
from dlcli.errors import InputError, RunFailure

PIXELS = 3 * 32 * 32
LAYOUTS = {
    # name: (folder in the archive, training files, test file, names file, label bytes, classes)
    "cifar10": (
        "cifar-10-batches-bin",
        tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        "test_batch.bin",
        "batches.meta.txt",
        1,
        10,
    ),
    "cifar100": ("cifar-100-binary", ("train.bin",), "test.bin", "fine_label_names.txt", 2, 100),
}
# The largest member each archive's original holds: cifar10's 10,000-record batches, cifar100's
# 50,000-record train.bin (a names file is well under NAMES_LIMIT)
LIMITS = {"cifar10": 10_000 * (1 + PIXELS), "cifar100": 50_000 * (2 + PIXELS)}
NAMES_LIMIT = 1 << 16


def load_cifar(name: str, archive: Path) -> ImageData:
    import numpy as np

    folder, train_files, test_file, names_file, label_bytes, classes = LAYOUTS[name]
    wanted = {f"{folder}/{f}" for f in (*train_files, test_file, names_file)}
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.isfile() and member.name in wanted:
                    limit = NAMES_LIMIT if member.name.endswith(".txt") else LIMITS[name]
                    if member.size > limit:
                        raise InputError(
                            f"{archive}: {member.name} holds {member.size} bytes, more than the "
                            f"original's {limit}; this is not the {name} archive"
                        )
                    handle = tar.extractfile(member)
                    assert handle is not None
                    members[member.name] = handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{archive}: not a readable .tar.gz ({exc})") from None
    except MemoryError:
        raise RunFailure(f"{archive}: out of memory while reading the archive") from None
    missing = sorted(wanted - set(members))
    if missing:
        raise InputError(f"{archive}: no {', '.join(missing)} in the archive")
    record = label_bytes + PIXELS

    def records(file: str) -> tuple[np.ndarray, np.ndarray]:
        raw = members[f"{folder}/{file}"]
        if len(raw) % record:
            raise InputError(
                f"{archive}: {folder}/{file} has {len(raw)} bytes, not a whole number of "
                f"{record}-byte records"
            )
        table = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
        return table[:, label_bytes:].reshape(-1, 3, 32, 32), table[:, label_bytes - 1]

    parts = [records(f) for f in (*train_files, test_file)]
    x = np.concatenate([p[0] for p in parts])  # (N, 3, 32, 32) uint8
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    text = members[f"{folder}/{names_file}"].decode("utf-8", errors="replace")
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != classes:
        raise InputError(
            f"{archive}: {folder}/{names_file} names {len(names)} classes; expected {classes}"
        )
    if len(y) and int(y.max()) >= classes:
        raise InputError(f"{archive}: label {int(y.max())} is not below {classes}")
    n_train = sum(len(p[1]) for p in parts[:-1])
    return ImageData(name, x, y, names, n_train)

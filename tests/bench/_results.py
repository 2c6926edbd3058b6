"""The one format in which every benchmark hands its figures to `run.py`.

A benchmark takes `--results FILE` and, when given, writes a JSON list of rows there:

    {"bench": "threads", "what": "resnet, busy: default vs best of 1 and 2 threads",
     "ratio": 1.02, "target": "<= 1.15", "met": true, "detail": "3.1 s vs 3.0 s"}

`ratio` is the figure the table shows (a time ratio: lower is better unless `detail` says
otherwise); `target` and `met` may be null where a benchmark only reports.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", metavar="FILE", help="write the figures as JSON (run.py)")


def row(
    bench: str,
    what: str,
    ratio: float | None,
    target: str | None = None,
    met: bool | None = None,
    detail: str = "",
) -> dict[str, Any]:
    return {
        "bench": bench,
        "what": what,
        "ratio": None if ratio is None else round(ratio, 3),
        "target": target,
        "met": met,
        "detail": detail,
    }


def write(path: str | None, rows: list[dict[str, Any]]) -> None:
    if path:
        Path(path).write_text(json.dumps(rows, indent=1))

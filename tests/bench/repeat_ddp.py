"""Repeat the data-parallel runs that used to fail now and then, and count the failures.

    .venv/bin/python tests/bench/repeat_ddp.py [--runs 20] [--only test|nproc] [--epochs 2]

Two commands, interleaved, `--runs` times each:

    test   pytest tests/training/test_distributed.py::
           test_two_ranks_match_one_process_and_resume_on_one
    nproc  dlcli train mlp --nproc 2 --epochs E --threads 1 --json --out TMP

A run counts as failed if it exits non-zero, or if its output holds a traceback or an abort
("Traceback", "terminate called", "ChildFailedError", "Signal ", "core dumped"), or (nproc) if
its stdout is not one JSON document naming its run folder. The last line is the figure the
issue asks for: "failed: 0 of 40". Runs with the interpreter running this script (`sys.executable`);
`--root` is the checkout whose tests it runs (default: this one).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST = "tests/training/test_distributed.py::test_two_ranks_match_one_process_and_resume_on_one"
BAD = ("Traceback", "terminate called", "ChildFailedError", "Signal ", "core dumped")


def run_test(root: Path) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    return proc.returncode, proc.stdout + proc.stderr


def run_nproc(root: Path, epochs: int) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "dlcli", "train", "mlp", "--nproc", "2", "--epochs"]
        cmd += [str(epochs), "--threads", "1", "--json", "--out", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
        code = proc.returncode
        try:
            if code == 0 and json.loads(proc.stdout)["out"] != str(out):
                code = -1000  # a document, but not this run's
        except (ValueError, KeyError, TypeError):
            code = code or -1001  # exit 0 without the one JSON document
        return code, proc.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command")
    parser.add_argument("--only", choices=("test", "nproc"), default=None)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the nproc run")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    kinds = [k for k in ("test", "nproc") if args.only in (None, k)]
    failed = dict.fromkeys(kinds, 0)
    total = 0
    for i in range(args.runs):
        for kind in kinds:  # interleaved: a quiet or busy minute falls on both alike
            t0 = time.perf_counter()
            code, output = (
                run_test(args.root) if kind == "test" else run_nproc(args.root, args.epochs)
            )
            bad = [b for b in BAD if b in output]
            total += 1
            if code != 0 or bad:
                failed[kind] += 1
                tail = "\n    ".join(output.strip().splitlines()[-6:])
                print(f"{kind} {i + 1}: exit {code}, {bad or 'no traceback'}\n    {tail}")
            else:
                print(f"{kind} {i + 1}: ok ({time.perf_counter() - t0:.1f} s)", flush=True)
    for kind in kinds:
        print(f"{kind}: {failed[kind]} of {args.runs} failed")
    print(f"failed: {sum(failed.values())} of {total}")
    return 1 if any(failed.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What `--animate` and `--parallel` cost or save, as whole processes (issue 12's figures).

    .venv/bin/python tests/bench/bench_sweep.py [--repeats 5] [--epochs 200]

1. `--animate`: `dlcli train mlp --data spiral --epochs E --threads 1 -q` with and without
   `--animate`, interleaved; reports the median wall time of each, their ratio (target: at most
   1.10), and the training loop's own time (the run's `seconds` from --json) with and without.
2. `--parallel 2`: the 4-run spiral sweep `--hidden 6 --hidden 20 --weight-decay 0
   --weight-decay 0.1`, serially (`--threads 1`) and with `--parallel 2`, interleaved.

Timings on a shared machine swing: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402

DLCLI = [sys.executable, "-m", "dlcli"]


def timed(args: list[str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run(DLCLI + args, capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, json.loads(proc.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=200)
    _results.add_argument(ap)
    args = ap.parse_args()
    load = os.getloadavg()
    base = ["train", "mlp", "--data", "spiral", "--epochs", str(args.epochs), "--threads", "1"]
    sweep = [*base, "--hidden", "6", "--hidden", "20", "--weight-decay", "0"]
    sweep += ["--weight-decay", "0.1"]
    walls: dict[str, list[float]] = {k: [] for k in ("plain", "animate", "serial", "parallel")}
    loops: dict[str, list[float]] = {"plain": [], "animate": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name, extra in (("plain", []), ("animate", ["--animate"])):
                wall, doc = timed([*base, *extra, "--json", "--out", f"{tmp}/{name}{r}"])
                walls[name].append(wall)
                loops[name].append(doc["seconds"])
            for name, extra in (("serial", []), ("parallel", ["--parallel", "2"])):
                wall, _ = timed([*sweep, *extra, "--json", "--out", f"{tmp}/{name}{r}"])
                walls[name].append(wall)
    med = {k: statistics.median(v) for k, v in walls.items()}
    loop = {k: statistics.median(v) for k, v in loops.items()}
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} cores"
    )
    print(
        f"--animate, {args.epochs} epochs: whole process {med['plain']:.2f} s -> "
        f"{med['animate']:.2f} s ({med['animate'] / med['plain']:.2f}x); "
        f"run's own seconds {loop['plain']:.2f} -> {loop['animate']:.2f} "
        f"({loop['animate'] / loop['plain']:.2f}x)"
    )
    print(
        f"sweep of 4 runs: serial {med['serial']:.2f} s, --parallel 2 {med['parallel']:.2f} s "
        f"({med['parallel'] / med['serial']:.2f}x)"
    )
    animate = med["animate"] / med["plain"]
    _results.write(args.results, [
        _results.row("sweep", f"train mlp --data spiral --epochs {args.epochs}: with --animate / "
                     "without (whole process)", animate, "<= 1.10", animate <= 1.10,
                     f"{med['animate']:.2f} s vs {med['plain']:.2f} s"),
        _results.row("sweep", "4-run sweep: --parallel 2 / serial", med["parallel"] / med["serial"],
                     None, None, f"{med['parallel']:.2f} s vs {med['serial']:.2f} s"),
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What `--log-grads` costs, as whole processes (issue 19's figure: at most 5 % of epoch time).

    .venv/bin/python tests/bench/bench_grads.py [--repeats 7] [--epochs 30]

`dlcli train mlp --hidden 64,64,64,64 --epochs E --threads 1 --json` with and without
`--log-grads`, interleaved (the order alternating per repeat); reports the median wall time of
each and their ratio, and the same for the epochs' own time (the sum of history.csv's
`seconds`: the loop without start-up and the final scoring) and for the median epoch of all
runs (the steadiest under load). The ratios are the cost.

Timings on a shared machine swing: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time

DLCLI = [sys.executable, "-m", "dlcli"]


def timed(args: list[str], out: str) -> tuple[float, list[float]]:
    """(whole-process wall seconds, each epoch's seconds from history.csv)."""
    t0 = time.perf_counter()
    subprocess.run([*DLCLI, *args, "--out", out], capture_output=True, check=True)
    wall = time.perf_counter() - t0
    with open(f"{out}/history.csv", newline="") as f:
        return wall, [float(row["seconds"]) for row in csv.DictReader(f)]


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    load = os.getloadavg()
    base = ["train", "mlp", "--hidden", "64,64,64,64", "--epochs", str(args.epochs)]
    base += ["--threads", "1", "--json"]
    walls: dict[str, list[float]] = {"plain": [], "grads": []}
    epochs: dict[str, list[float]] = {"plain": [], "grads": []}
    each: dict[str, list[float]] = {"plain": [], "grads": []}  # every epoch of every run
    kinds = [("plain", []), ("grads", ["--log-grads"])]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name, extra in kinds if r % 2 == 0 else kinds[::-1]:
                wall, loop = timed([*base, *extra], f"{tmp}/{name}{r}")
                walls[name].append(wall)
                epochs[name].append(sum(loop))
                each[name] += loop
    wall = {k: statistics.median(v) for k, v in walls.items()}
    loop = {k: statistics.median(v) for k, v in epochs.items()}
    epoch = {k: statistics.median(v) for k, v in each.items()}
    print(
        f"train mlp --hidden 64,64,64,64 --epochs {args.epochs} --threads 1, "
        f"{args.repeats} interleaved pairs, load {load[0]:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(
        f"whole process: {wall['grads']:.3f} s with --log-grads vs {wall['plain']:.3f} s "
        f"without: ratio {wall['grads'] / wall['plain']:.3f}"
    )
    print(
        f"epochs only:   {loop['grads']:.3f} s vs {loop['plain']:.3f} s: "
        f"ratio {loop['grads'] / loop['plain']:.3f}"
    )
    print(
        f"median epoch:  {epoch['grads'] * 1e3:.2f} ms vs {epoch['plain'] * 1e3:.2f} ms: "
        f"ratio {epoch['grads'] / epoch['plain']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

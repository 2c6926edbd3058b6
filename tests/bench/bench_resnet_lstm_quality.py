"""Benchmark: the quality bars of `dlcli train resnet` and `dlcli train lstm` with their defaults.

    dlcli train resnet                   (digits 8x8, ResNet-20)        target >= 0.98 test accuracy
    dlcli train lstm                     (digits as 8 rows of 8 pixels)  target >= 0.97
    dlcli train lstm --data sample_data/reviews.csv                      (text, no target)

Whole processes through the real CLI, over several seeds (each seed is another split too).
Run: .venv/bin/python tests/bench/bench_resnet_lstm_quality.py [--seeds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = {
    "resnet digits": ["train", "resnet"],
    "lstm digits": ["train", "lstm"],
    "lstm reviews": ["train", "lstm", "--data", str(ROOT / "sample_data" / "reviews.csv")],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default=",".join(RUNS))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            accs, walls = [], []
            for seed in range(args.seeds):
                cmd = [
                    sys.executable,
                    "-m",
                    "dlcli",
                    *RUNS[name],
                    "--seed",
                    str(seed),
                    "--threads",
                    str(args.threads),
                    "--json",
                    "-q",
                    "--out",
                    str(Path(tmp) / f"{name.replace(' ', '-')}-{seed}"),
                ]
                start = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
                walls.append(time.perf_counter() - start)
                doc = json.loads(proc.stdout)
                accs.append(doc["test_accuracy"])
                print(
                    f"{name} seed {seed}: test {doc['test_accuracy']:.4f} "
                    f"val {doc['val_accuracy']:.4f}, {walls[-1]:.1f} s",
                    flush=True,
                )
            rows.append((name, accs, walls))
    print("\n| run | test accuracy per seed | min | wall s (median) |")
    print("|---|---|---|---|")
    for name, accs, walls in rows:
        print(
            f"| {name} | {', '.join(f'{a:.4f}' for a in accs)} | {min(accs):.4f} | "
            f"{statistics.median(walls):.1f} |"
        )


if __name__ == "__main__":
    main()

"""Benchmark: an LSTM remembers over 50 steps where a plain RNN forgets (`dlcli train lstm`).

The task (dlcli/training/sequences.py): the class is written at step 0 of a 50-step sequence,
every later step is noise; the net must carry step 0 to the end. Each cell trains with the same
budget through the real CLI (whole processes, the shared engine, default standardisation), over
several seeds (each seed: another initialisation, split and shuffle):

    dlcli train lstm --data first_symbol.npz --cell lstm|gru|rnn --unidirectional \
        --hidden-size 32 --epochs 30 --seed S --threads 1 --json -q

Run: .venv/bin/python tests/bench/bench_long_memory.py [--seeds 5] [--cells lstm,gru,rnn]
Prints one line per run and a Markdown table of test accuracies (chance: 0.25).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--cells", default="lstm,rnn")
    parser.add_argument("--noise", type=float, default=0.5, help="sd of the distracting steps")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    import numpy as np

    from dlcli.training.sequences import first_symbol_task

    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "first_symbol.npz"
        x, y = first_symbol_task(2500, args.steps, 4, seed=0, noise=args.noise)
        np.savez(data, x=x, y=y)
        for cell in args.cells.split(","):
            for seed in range(args.seeds):
                cmd = [
                    sys.executable,
                    "-m",
                    "dlcli",
                    "train",
                    "lstm",
                    "--data",
                    str(data),
                    "--cell",
                    cell,
                    "--unidirectional",
                    "--hidden-size",
                    "32",
                    "--epochs",
                    str(args.epochs),
                    "--seed",
                    str(seed),
                    "--threads",
                    "1",
                    "--json",
                    "-q",
                    "--out",
                    str(Path(tmp) / f"{cell}-{seed}"),
                ]
                proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
                doc = json.loads(proc.stdout)
                results.setdefault(cell, []).append(doc["test_accuracy"])
                print(
                    f"{cell} seed {seed}: test accuracy {doc['test_accuracy']:.3f} "
                    f"({doc['seconds']:.1f} s)",
                    flush=True,
                )
    print(
        f"\n| cell | test accuracy per seed (T={args.steps}, {args.epochs} epochs) | median "
        "| solved (>= 0.9) |"
    )
    print("|---|---|---|---|")
    for cell, accs in results.items():
        solved = sum(a >= 0.9 for a in accs)
        print(
            f"| {cell} | {', '.join(f'{a:.3f}' for a in accs)} | {statistics.median(accs):.3f} "
            f"| {solved} of {len(accs)} |"
        )


if __name__ == "__main__":
    main()

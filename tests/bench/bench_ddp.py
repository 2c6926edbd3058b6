"""Benchmark data-parallel scaling: 1 process against 2 ranks under torchrun (gloo, CPU).

    .venv/bin/python tests/bench/bench_ddp.py [--repeats 3] [--model cnn] [--epochs 3]

The same command (`dlcli train MODEL --batch-size 256 --threads 1`, the global batch) runs as
one process and as `torchrun --standalone --nproc-per-node 2`, interleaved; the figure is the
throughput ratio (training examples per second of the run's own `seconds`; above 1: 2 ranks
are faster). On a 2-core machine shared with other work expect little: each rank needs a core.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402


def run(cmd: list[str]) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    _results.add_argument(parser)
    args = parser.parse_args()
    train = ["-m", "dlcli", "train", args.model, "--epochs", str(args.epochs), "--threads", "1"]
    train += ["--batch-size", str(args.batch_size), "--device", "cpu", "--json", "-q"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    variants = {
        "1 process": [sys.executable, *train],
        "2 ranks": [*torchrun, "--nproc-per-node", "2", *train],
    }
    rate: dict[str, list[float]] = {k: [] for k in variants}
    accuracy: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name, cmd in variants.items():
                doc = run([*cmd, "--out", str(Path(tmp) / f"{name[0]}-{r}")])
                rate[name].append(doc["n_train"] * doc["epochs"] / doc["seconds"])
                accuracy[name] = doc["test_accuracy"]
    one, two = statistics.median(rate["1 process"]), statistics.median(rate["2 ranks"])
    print(
        f"{args.model}, {args.epochs} epochs, global batch {args.batch_size}, "
        f"median of {args.repeats}"
    )
    for name in variants:
        print(
            f"  {name:10} {statistics.median(rate[name]):9.0f} examples/s  "
            f"test accuracy {accuracy[name]:.4f}"
        )
    print(f"  2 ranks / 1 process throughput: {two / one:.2f}x")
    detail = f"1 process {one:.0f}, 2 ranks {two:.0f} examples/s (higher is better)"
    what = f"DDP {args.model}: throughput of 2 ranks / 1 process"
    _results.write(args.results, [_results.row("ddp", what, two / one, None, None, detail)])
    return 0


if __name__ == "__main__":
    sys.exit(main())

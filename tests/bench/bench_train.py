"""Benchmark `dlcli train` as whole processes against a hand-written PyTorch loop and Keras 3.

    .venv/bin/python tests/bench/bench_train.py [--repeats 5] [--threads N] [--epochs 50]

Every contender does the same work on the bundled digits: the 64-128-64-10 MLP with dropout
0.2 (dlcli's default net), Adam lr 1e-3, batch 64, the given epochs, standardised inputs, a
validation pass each epoch and the test accuracy at the end, with `--threads` torch threads.
The hand-written loop slices tensors already in memory (the fastest plain PyTorch); Keras runs
`fit` on its torch backend (install it by hand: `pip install keras`; it is not a dependency).
Runs are interleaved round-robin and the median wall time of each is reported, with the ratio
to the hand-written loop (target: dlcli <= 1.10x, faster than Keras). Then the quality bars:
the default `dlcli train mlp` and `dlcli train cnn` on digits, test accuracy and time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "dlcli" / "sample_data" / "digits.csv.gz"

HAND = r"""
import gzip, sys
import numpy as np, torch
import torch.nn.functional as F
from torch import nn

threads, epochs = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
with gzip.open(sys.argv[3]) as fh:
    data = np.loadtxt(fh, delimiter=",", dtype=np.float32)
x, y = data[:, :64], data[:, 64].astype(np.int64)
idx = np.random.default_rng(0).permutation(len(y))
test, val, train = idx[:359], idx[359:538], idx[538:]
x = (x - x[train].mean()) / x[train].std()
X, Y = torch.from_numpy(x), torch.from_numpy(y)
xtr, ytr, xva, yva, xte, yte = X[train], Y[train], X[val], Y[val], X[test], Y[test]
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 64),
                      nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(epochs):
    model.train()
    perm = torch.randperm(len(ytr))
    xs, ys = xtr[perm], ytr[perm]
    for i in range(0, len(ys), 64):
        loss = F.cross_entropy(model(xs[i:i + 64]), ys[i:i + 64])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        val_acc = (model(xva).argmax(1) == yva).float().mean().item()
with torch.no_grad():
    print((model(xte).argmax(1) == yte).float().mean().item())
"""

KERAS = r"""
import gzip, os, sys
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np, torch
threads, epochs = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
import keras
keras.utils.set_random_seed(0)
with gzip.open(sys.argv[3]) as fh:
    data = np.loadtxt(fh, delimiter=",", dtype=np.float32)
x, y = data[:, :64], data[:, 64].astype(np.int64)
idx = np.random.default_rng(0).permutation(len(y))
test, val, train = idx[:359], idx[359:538], idx[538:]
x = (x - x[train].mean()) / x[train].std()
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"),
                          keras.layers.Dropout(0.2), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dropout(0.2), keras.layers.Dense(10)])
model.compile(optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"],
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x[train], y[train], batch_size=64, epochs=epochs, validation_data=(x[val], y[val]),
          verbose=0)
print(model.evaluate(x[test], y[test], verbose=0)[1])
"""


def _time(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds user+sys, stdout) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed, cpu, proc.stdout


def _has_keras() -> bool:
    env = dict(os.environ, KERAS_BACKEND="torch")
    probe = subprocess.run([sys.executable, "-c", "import keras"], capture_output=True, env=env)
    return probe.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--no-quality", action="store_true", help="skip the quality runs")
    _results.add_argument(parser)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dlcli-bench-"))
    (tmp / "hand.py").write_text(HAND)
    (tmp / "keras_fit.py").write_text(KERAS)
    common = [str(args.threads), str(args.epochs), str(DIGITS)]
    dlcli = [
        sys.executable,
        "-m",
        "dlcli",
        "train",
        "mlp",
        "--epochs",
        str(args.epochs),
        "--batch-size",
        "64",
        "--threads",
        str(args.threads),
        "--device",
        "cpu",
    ]
    contenders: dict[str, object] = {
        "hand-written loop": lambda i: [sys.executable, str(tmp / "hand.py"), *common],
        "dlcli train mlp --json": lambda i: [*dlcli, "--json", "--out", str(tmp / f"j{i}")],
        "dlcli train mlp (tables, log)": lambda i: [*dlcli, "--out", str(tmp / f"t{i}")],
    }
    if _has_keras():
        contenders["keras 3 fit (torch)"] = lambda i: [
            sys.executable,
            str(tmp / "keras_fit.py"),
            *common,
        ]
    else:
        print("keras is not installed: skipping it (pip install keras)")
    times: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    accuracy: dict[str, str] = {}
    for i in range(args.repeats):
        for name, make in contenders.items():
            elapsed, cpu, stdout = _time(make(i))  # type: ignore[operator]
            times[name].append(elapsed)
            cpus[name].append(cpu)
            if stdout.strip().startswith("{"):
                accuracy[name] = f"{json.loads(stdout)['test_accuracy']:.4f}"
            elif stdout.strip() and name not in accuracy and "tables" not in name:
                accuracy[name] = f"{float(stdout.split()[-1]):.4f}"
    base = statistics.median(times["hand-written loop"])
    base_cpu = statistics.median(cpus["hand-written loop"])
    print(
        f"\nwhole processes, digits MLP 64-128-64-10, {args.epochs} epochs, batch 64, "
        f"{args.threads} threads, median of {args.repeats}; wall (min..max) and CPU user+sys "
        "(steadier on a shared machine):"
    )
    for name, values in times.items():
        med, cpu = statistics.median(values), statistics.median(cpus[name])
        print(
            f"  {name:30s} wall {med:5.2f} s ({min(values):.2f}..{max(values):.2f}) "
            f"x{med / base:.2f} | cpu {cpu:5.2f} s x{cpu / base_cpu:.2f} | "
            f"test acc {accuracy.get(name, '-')}"
        )
    rows = []
    for name, values in times.items():
        if name == "hand-written loop":
            continue
        ratio = statistics.median(values) / base
        target = "<= 1.10" if name == "dlcli train mlp --json" else None
        rows.append(
            _results.row(
                "train",
                f"{name} / hand-written loop ({args.epochs} epochs, {args.threads} threads)",
                ratio,
                target,
                ratio <= 1.10 if target else None,
                f"{statistics.median(values):.2f} s vs {base:.2f} s",
            )
        )
    _results.write(args.results, rows)
    if args.no_quality:
        return
    print("\nquality bars, defaults on digits (seed 0):")
    for model in ("mlp", "cnn"):
        elapsed, _, stdout = _time(
            [
                sys.executable,
                "-m",
                "dlcli",
                "train",
                model,
                "--json",
                "--threads",
                str(args.threads),
                "--out",
                str(tmp / model),
            ]
        )
        doc = json.loads(stdout)
        print(
            f"  dlcli train {model}: test accuracy {doc['test_accuracy']:.4f} after "
            f"{doc['epochs']} epochs, {elapsed:.1f} s whole process"
        )


if __name__ == "__main__":
    main()

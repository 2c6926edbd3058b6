"""Benchmark the default thread count against `--threads 1` and `--threads <cores>`.

    .venv/bin/python tests/bench/bench_threads.py [--repeats 3] [--models mlp,cnn,lstm,resnet]

Each model trains on the bundled digits (a few epochs; resnet one) as a whole process, with no
--threads (the default rule of dlcli/training/engine/device.py), --threads 1 and --threads <cores>,
interleaved round-robin; the figure is the best of --repeats runs (other processes only ever slow
a run down) of the run's own `seconds` (training and scoring, not the interpreter's start).
Twice: on the machine as it is ("quiet"; the load average says how quiet), and with competing
CPU-bound processes started here ("busy": --competitors Python busy loops, default 1). Target:
the default within 1.15x of the better of the other two, for every model in both conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402

EPOCHS = {"mlp": 10, "cnn": 3, "lstm": 2, "resnet": 1}
TARGET = 1.15
CHOSEN: dict[str, set[int]] = {}  # the thread counts the default chose, per model


def cores() -> int:
    import torch

    return torch.get_num_threads()  # PyTorch's default: the physical cores


def train_seconds(model: str, threads: int | None, out: Path) -> float:
    cmd = [sys.executable, "-m", "dlcli", "train", model, "--epochs", str(EPOCHS[model])]
    cmd += ["--json", "-q", "--device", "cpu", "--out", str(out)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    if threads is None:  # what the rule chose
        chosen = json.loads((out / "config.json").read_text())["threads"]
        CHOSEN.setdefault(model, set()).add(chosen)
    return float(json.loads(proc.stdout)["seconds"])


def measure(models: list[str], repeats: int, tmp: Path, label: str) -> dict[str, dict]:
    n = cores()
    variants = {"default": None, "1": 1, str(n): n}
    times = {m: {v: [] for v in variants} for m in models}
    CHOSEN.clear()
    for r in range(repeats):
        for model in models:
            for name, threads in variants.items():
                out = tmp / f"{label}-{model}-{name}-{r}"
                times[model][name].append(train_seconds(model, threads, out))
    best = {m: {v: min(t) for v, t in per.items()} for m, per in times.items()}
    for m in models:
        best[m]["chose"] = "/".join(map(str, sorted(CHOSEN.get(m, ()))))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="mlp,cnn,lstm,resnet")
    parser.add_argument("--competitors", type=int, default=1)
    _results.add_argument(parser)
    args = parser.parse_args()
    models = args.models.split(",")
    n = cores()
    rows, ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        conditions = {}
        conditions["quiet"] = (measure(models, args.repeats, Path(tmp), "quiet"), os.getloadavg())
        busy = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.competitors)
        ]
        try:
            time.sleep(1.0)
            conditions["busy"] = (measure(models, args.repeats, Path(tmp), "busy"), os.getloadavg())
        finally:
            for p in busy:
                p.kill()
                p.wait()
    print(f"{n} threads = PyTorch's default here; best seconds of {args.repeats} runs")
    print(f"{'condition':9} {'model':7} {'default':>8} {'1':>8} {str(n):>8} {'ratio':>6} chose")
    for label, (best, load) in conditions.items():
        for model, m in best.items():
            best = min(m["1"], m[str(n)])
            ratio = m["default"] / best
            ok &= ratio <= TARGET
            print(
                f"{label:9} {model:7} {m['default']:8.2f} {m['1']:8.2f} {m[str(n)]:8.2f} "
                f"{ratio:6.2f} {m['chose']}"
            )
            detail = (
                f"default {m['default']:.2f} s (chose {m['chose']} threads); "
                f"1: {m['1']:.2f} s, {n}: {m[str(n)]:.2f} s"
            )
            what = f"{model} ({label}, load {load[0]:.1f}): default vs best of 1 and {n} threads"
            rows.append(
                _results.row("threads", what, ratio, f"<= {TARGET}", ratio <= TARGET, detail)
            )
    print(f"target (default <= {TARGET}x the best everywhere): {'met' if ok else 'MISSED'}")
    _results.write(args.results, rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

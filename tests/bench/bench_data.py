"""Benchmark loading data at the scale users bring, and `train cnn` against a hand-written loop.

    .venv/bin/python tests/bench/bench_data.py [--repeats 3] [--skip-train]

Data is generated in a temp folder: a 200,000 x 64 CSV (plus an integer label column), 10,000
RGB 32x32 PNGs in 10 class folders, a CIFAR-10-shaped uint8 array (50,000 x 3 x 32 x 32) in an
uncompressed .npz, and a 10,000-image one for training. Every measurement is a fresh process
(one torch thread); peak RSS is the process's high-water mark minus the one after its imports.
Runs are interleaved round-robin; medians are reported, with `uptime`'s load average, since
timings on a shared machine swing.

Targets (issue 10): CSV <= 1.2x np.loadtxt's time and peak <= 3x the float32 array; the CIFAR
array's peak <= 1.5x its uint8 size; image folders decode faster than a plain PIL loop;
`dlcli train cnn` <= 1.2x a minimal hand-written loop with the same net.
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

CHILD = r"""
import json, sys, time
from pathlib import Path
mode, path = sys.argv[1], Path(sys.argv[2])
import numpy as np
if mode.startswith("cifar"):
    import torch
    torch.set_num_threads(1)
from dlcli.training.data import folders, images, load_dataset, tables
def peak():  # VmHWM: this process's own high-water mark (ru_maxrss survives exec)
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024  # MiB
base = peak()
t0, c0 = time.perf_counter(), time.process_time()
if mode == "csv-dlcli":
    x, labels, _ = tables.read_csv_table(path, "label")
elif mode == "csv-loadtxt":
    x = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
elif mode == "folder-dlcli":
    x = folders.load_image_folder(path, (32, 32)).x
elif mode == "folder-dlcli-serial":
    images.decode_workers = lambda first=None: 1
    x = folders.load_image_folder(path, (32, 32)).x
elif mode == "folder-pil":
    from PIL import Image
    files = sorted(p for c in sorted(path.iterdir()) for p in sorted(c.iterdir()))
    x = np.empty((len(files), 3, 32, 32), np.uint8)
    for i, p in enumerate(files):
        with Image.open(p) as img:
            x[i] = np.asarray(img.convert("RGB")).transpose(2, 0, 1)
elif mode == "cifar-npload":
    x = np.load(path)["x"]
elif mode == "cifar-dlcli":  # load, split, streaming statistics, one pass over the batches
    from dlcli.training.engine.batches import inputs_for
    from dlcli.training.config import DataConfig, TrainConfig
    from dlcli.training.families.cnn import CNNConfig
    from dlcli.training.runs.spec import make_spec, prepare
    cfg = DataConfig(source=str(path))
    ds = load_dataset(cfg)
    spec = make_spec("cnn", CNNConfig(), cfg, TrainConfig(), ds)
    prep = prepare(ds, spec, 0)
    inputs = inputs_for(spec, prep.x_train, torch.device("cpu"))
    for xb in inputs.batches(torch.randperm(len(inputs)), 64):
        pass
    x = ds.x
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "peak_mib": peak() - base,
                  "array_mib": x.nbytes / 2**20, "n": len(x)}))
"""

HAND_CNN = r"""
import sys
import numpy as np, torch
import torch.nn.functional as F
from torch import nn
torch.set_num_threads(1)
torch.manual_seed(0)
with np.load(sys.argv[1]) as f:
    x, y = f["x"].astype(np.float32) / 255, f["y"].astype(np.int64)
idx = np.random.default_rng(0).permutation(len(y))
n_test, n_val = len(y) // 5, len(y) // 10
test, val, train = idx[:n_test], idx[n_test:n_test + n_val], idx[n_test + n_val:]
mean = x[train].mean(axis=(0, 2, 3), keepdims=True)
std = x[train].std(axis=(0, 2, 3), keepdims=True)
x = (x - mean) / std
X, Y = torch.from_numpy(x), torch.from_numpy(y)
xtr, ytr, xva, yva, xte, yte = X[train], Y[train], X[val], Y[val], X[test], Y[test]
model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for epoch in range(int(sys.argv[2])):
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


def data_paths(tmp: Path) -> dict[str, Path]:
    return {
        "csv": tmp / "table.csv",
        "folder": tmp / "images",
        "cifar": tmp / "cifar.npz",
        "train": tmp / "cifar10k.npz",
    }


def make_data(tmp: Path) -> dict[str, Path]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = data_paths(tmp)
    x = rng.normal(size=(200_000, 64)).astype(np.float32)
    y = rng.integers(0, 10, 200_000)
    header = ",".join([f"f{i}" for i in range(64)] + ["label"])
    np.savetxt(
        paths["csv"], np.column_stack([x, y]), delimiter=",", fmt="%.6g", header=header, comments=""
    )
    for c in range(10):
        (paths["folder"] / f"c{c}").mkdir(parents=True)
        for i in range(1000):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(paths["folder"] / f"c{c}" / f"{i:04d}.png")
    images = rng.integers(0, 256, (50_000, 3, 32, 32), dtype=np.uint8)
    np.savez(paths["cifar"], x=images, y=rng.integers(0, 10, 50_000))
    np.savez(paths["train"], x=images[:10_000], y=rng.integers(0, 10, 10_000))
    return paths


def run(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds user+sys, stdout) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, proc.stdout


def median_of(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--data-dir", type=Path, help="reuse the data generated there")
    _results.add_argument(parser)
    args = parser.parse_args()
    tmp = args.data_dir or Path(tempfile.mkdtemp(prefix="dlcli-bench-data-"))
    if args.data_dir is None:
        print(f"generating data in {tmp} ...", flush=True)
        make_data(tmp)
    paths = data_paths(tmp)
    (tmp / "child.py").write_text(CHILD)
    (tmp / "hand_cnn.py").write_text(HAND_CNN)
    modes = {
        "csv-loadtxt": "csv",
        "csv-dlcli": "csv",
        "folder-pil": "folder",
        "folder-dlcli-serial": "folder",
        "folder-dlcli": "folder",
        "cifar-npload": "cifar",
        "cifar-dlcli": "cifar",
    }
    results: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(0 if args.skip_load else args.repeats):
        for mode, data in modes.items():
            _, _, out = run([sys.executable, str(tmp / "child.py"), mode, str(paths[data])])
            results[mode].append(json.loads(out))
    rows: list[dict] = []
    if not args.skip_load:
        rows += report_loads(results, args.repeats)
    if not args.skip_train:
        rows += train_vs_hand(tmp, paths, args.repeats)
    _results.write(args.results, rows)


def report_loads(results: dict[str, list[dict]], repeats: int) -> list[dict]:
    print(f"\nload average: {os.getloadavg()}; median of {repeats}, fresh processes")
    for mode, rs in results.items():
        n, secs, peak = rs[0]["n"], median_of(rs, "seconds"), median_of(rs, "peak_mib")
        cpu = median_of(rs, "cpu")
        print(
            f"  {mode:20s} wall {secs:6.2f} s  cpu {cpu:6.2f} s  {n / secs:9.0f} rows/s"
            f"  peak +{peak:6.0f} MiB  (array {rs[0]['array_mib']:.0f} MiB)"
        )
    csv_t = median_of(results["csv-dlcli"], "seconds") / median_of(
        results["csv-loadtxt"], "seconds"
    )
    csv_m = median_of(results["csv-dlcli"], "peak_mib") / results["csv-dlcli"][0]["array_mib"]
    cif_m = median_of(results["cifar-dlcli"], "peak_mib") / results["cifar-dlcli"][0]["array_mib"]
    pil = median_of(results["folder-pil"], "seconds") / median_of(
        results["folder-dlcli"], "seconds"
    )
    print(
        f"  CSV: x{csv_t:.2f} np.loadtxt's time (target <= 1.2), peak x{csv_m:.2f} float32 (<= 3)"
    )
    print(f"  CIFAR-shaped: peak x{cif_m:.2f} its uint8 size (target <= 1.5)")
    print(f"  image folder: x{pil:.2f} the images/s of a plain PIL loop")
    csv_cpu = median_of(results["csv-dlcli"], "cpu") / median_of(results["csv-loadtxt"], "cpu")
    return [
        _results.row(
            "data",
            "CSV 200,000 x 64: dlcli / np.loadtxt, wall",
            csv_t,
            "<= 1.2",
            csv_t <= 1.2,
            f"cpu x{csv_cpu:.2f}",
        ),  # fmt: skip
        _results.row("data", "CSV: peak RSS / its float32 array", csv_m, "<= 3", csv_m <= 3),
        _results.row(
            "data",
            "CIFAR-shaped 50,000 uint8: peak RSS / its uint8 size",
            cif_m,
            "<= 1.5",
            cif_m <= 1.5,
        ),  # fmt: skip
        _results.row(
            "data",
            "10,000 PNGs: dlcli images/s / a plain PIL loop's",
            pil,
            None,
            None,
            "higher is better",
        ),  # fmt: skip
    ]


def train_vs_hand(tmp: Path, paths: dict[str, Path], repeats: int) -> list[dict]:
    dlcli = [
        sys.executable,
        "-m",
        "dlcli",
        "train",
        "cnn",
        "--data",
        str(paths["train"]),
        "--epochs",
        "2",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--json",
        "--out",
    ]
    names = ("hand-written loop", "dlcli train cnn")
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for _ in range(repeats):
        hand = [sys.executable, str(tmp / "hand_cnn.py"), str(paths["train"]), "2"]
        times[names[0]].append(run(hand)[:2])
        times[names[1]].append(run([*dlcli, str(tmp / f"run-{time.time_ns()}")])[:2])
    base = statistics.median(t[0] for t in times[names[0]])
    base_cpu = statistics.median(t[1] for t in times[names[0]])
    print(f"\ntrain cnn, 10,000 uint8 3x32x32, 2 epochs, 1 thread; load {os.getloadavg()}:")
    for name, ts in times.items():
        wall, cpu = statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)
        print(
            f"  {name:20s} wall {wall:6.2f} s ({min(t[0] for t in ts):.2f}.."
            f"{max(t[0] for t in ts):.2f}) x{wall / base:.2f} | cpu {cpu:6.2f} s "
            f"x{cpu / base_cpu:.2f}"
        )
    ratio = wall / base  # the last name: dlcli
    return [
        _results.row(
            "data",
            "train cnn on 10,000 uint8 images, 2 epochs / hand loop, wall",
            ratio,
            "<= 1.2",
            ratio <= 1.2,
            f"cpu x{cpu / base_cpu:.2f}",
        ),  # fmt: skip
    ]


if __name__ == "__main__":
    main()

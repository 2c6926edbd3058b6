"""Benchmark: the tokenising pass (pass 1 of `dlcli word2vec`) over 1 and 2 worker processes.

    .venv/bin/python tests/bench/bench_w2v_prepare.py [--copies 26] [--repeat 5] [--train]

The corpus is the sample KJV decompressed and repeated `--copies` times into a temporary file
(26 copies: 20.5M words, 107 MB), and the same gzipped (level 6) for the compressed path. Each
run is a fresh process that calls `prepare_corpus` (tokenise, count, write the working file);
runs alternate between 1 and 2 workers (1, 2, 1, 2, ...) so that load from other processes on
the machine hits both alike. Reported: words/s of `prepare_corpus` (best and median), the ratio
of 2 workers to 1, and CPU-seconds (user + system of the process and its workers).

`--train` adds whole `dlcli word2vec cbow` runs, 1 and 5 epochs, 1 and 2 workers, and reports
the prepare/train split from the command's `--json` (`prepare_seconds`: reading, tokenising and
gensim's vocabulary; `train_seconds`: gensim's training).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def prepare_once(corpus: str, workers: int) -> None:
    """Internal: one `prepare_corpus` in this process; prints its seconds and words as JSON."""
    from dlcli.wordvec.config import Word2VecConfig
    from dlcli.wordvec.corpus import prepare_corpus

    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        pc = prepare_corpus(Word2VecConfig(corpus=corpus, workers=workers), folder)
        seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "words": pc.words}))


def timed(cmd: list[str]) -> tuple[float, str]:
    """(CPU seconds of the process and its children, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, proc.stdout


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_prepare(corpus: str, repeat: int) -> dict:
    seconds: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    words = 0
    for _ in range(repeat):
        for workers in (1, 2):
            cmd = [sys.executable, __file__, "--prepare-only", corpus, "--workers", str(workers)]
            c, out = timed(cmd)
            result = json.loads(out)
            seconds[workers].append(result["seconds"])
            cpu[workers].append(c)
            words = result["words"]
    best = {w: words / min(s) for w, s in seconds.items()}
    med = {w: words / statistics.median(s) for w, s in seconds.items()}
    for workers in (1, 2):
        print(
            f"| {Path(corpus).name} | {workers} | {best[workers] / 1e6:.2f}M "
            f"({med[workers] / 1e6:.2f}M) | {best[workers] / best[1]:.2f} "
            f"({med[workers] / med[1]:.2f}) "
            f"| {statistics.median(cpu[workers]):.1f} | {load()} |",
            flush=True,
        )
    speedup = best[2] / best[1]  # words/s: higher is better
    return _results.row(
        "word2vec", f"prepare words/s, 2 workers / 1 ({Path(corpus).name}, best of {repeat})",
        speedup, ">= 1.6", speedup >= 1.6, f"{best[2] / 1e6:.2f}M vs {best[1] / 1e6:.2f}M words/s "
        "(higher is better)",
    )  # fmt: skip


def bench_train(corpus: str) -> None:
    for epochs in (1, 5):
        for workers in (1, 2):
            knobs = ["--workers", str(workers), "--epochs", str(epochs), "--neighbours", "0"]
            cmd = [sys.executable, "-m", "dlcli", "word2vec", "cbow", corpus, *knobs, "--json"]
            _, out = timed(cmd)
            r = json.loads(out)
            share = r["prepare_seconds"] / (r["prepare_seconds"] + r["train_seconds"])
            print(
                f"| {epochs} | {workers} | {r['prepare_seconds']:.1f} | {r['train_seconds']:.1f} "
                f"| {share:.0%} | {r['words_per_second'] / 1e6:.2f}M | {load()} |",
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=26)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--train", action="store_true", help="also the prepare/train split")
    ap.add_argument("--no-gz", action="store_true", help="skip the gzipped corpus")
    ap.add_argument("--prepare-only")  # internal: one run in a fresh process
    ap.add_argument("--workers", type=int, default=1)
    _results.add_argument(ap)
    args = ap.parse_args()
    if args.prepare_only:
        prepare_once(args.prepare_only, args.workers)
        return

    sample = ROOT / "dlcli" / "sample_data" / "kjv.txt.gz"
    with tempfile.TemporaryDirectory() as tmp:
        text = gzip.decompress(sample.read_bytes())
        plain = os.path.join(tmp, "kjv-copies.txt")
        with open(plain, "wb") as f:
            for _ in range(args.copies):
                f.write(text)
        packed = plain + ".gz"
        with open(plain, "rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        size = os.path.getsize(plain)
        print(
            f"corpus: the sample KJV x {args.copies} ({size / 1e6:.0f} MB; gzipped "
            f"{os.path.getsize(packed) / 1e6:.0f} MB), {os.cpu_count()} cores; "
            f"prepare_corpus in a fresh process, runs alternating, best (median) of {args.repeat}\n"
        )
        print(
            "| input | workers | words/s, best (median) | vs 1 worker | CPU s (median) | load avg |"
        )
        print("|---|---:|---:|---:|---:|---|")
        rows = [bench_prepare(plain, args.repeat)]
        if not args.no_gz:
            rows.append(bench_prepare(packed, args.repeat))
        _results.write(args.results, rows)
        if args.train:
            print("\n`dlcli word2vec cbow` on the plain corpus, one run each:\n")
            print(
                "| epochs | workers | prepare s | train s | prepare share | train words/s "
                "| load avg |"
            )
            print("|---:|---:|---:|---:|---:|---:|---|")
            bench_train(plain)


if __name__ == "__main__":
    main()

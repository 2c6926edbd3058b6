"""Benchmark: `dlcli word2vec` against a plain gensim script, whole processes, same settings.

    .venv/bin/python tests/bench/bench_word2vec.py [--corpus FILE] [--workers 2] [--repeat 3]

Both sides get the same tokens: the corpus (default: the sample KJV) is tokenised once with
dlcli's tokeniser into a temporary file; dlcli then reads it with `--raw`, the plain script hands it
to gensim's `Word2Vec(corpus_file=...)`. Both save binary vectors. Runs alternate (dlcli, gensim,
dlcli, ...) so that load from other processes on the machine hits both alike; the figure is the
median of `--repeat` runs of

    words/s = corpus words x epochs / wall-clock seconds of the whole process

(start-up, reading, vocabulary, training and saving included). Quality: the analogy accuracy and
WordSim-353 Spearman of every saved vector set (gensim's own evaluation), mean ± standard
deviation over the runs; run r uses seed r + 1 on both sides, so the spread is run-to-run noise.

`--modes` adds the other paths: dlcli `--stream` (Python iterator) and `--no-loss`, and gensim
from an iterator (`LineSentence`), to see which is faster here.
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def plain_gensim(args: argparse.Namespace) -> None:
    """The anchor: what a user would write with gensim alone."""
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    kw = {
        "vector_size": args.size,
        "window": 5,
        "negative": 5,
        "min_count": 5,
        "sample": 1e-3,
        "sg": int(args.model == "skipgram"),
        "workers": args.workers,
        "epochs": args.epochs,
        "seed": args.seed,
    }
    if args.plain == "file":
        model = Word2Vec(corpus_file=args.tokens, **kw)
    else:
        model = Word2Vec(LineSentence(args.tokens), **kw)
    model.wv.save_word2vec_format(args.out, binary=True)


def timed(cmd: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return seconds, proc.stdout


def quality(path: str) -> tuple[float, float]:
    from dlcli.word2vec import evaluate_vectors, load_vectors

    r = evaluate_vectors(load_vectors(path))
    return r["analogy_accuracy"] or 0.0, r["pairs_spearman"] or 0.0


def spread(xs: list[float]) -> str:
    return f" ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(ROOT / "sample_data" / "kjv.txt.gz"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--models", default="skipgram,cbow")
    ap.add_argument(
        "--modes", action="store_true", help="also --stream, --no-loss, gensim iterator"
    )
    # internal: run as the plain gensim script
    ap.add_argument("--plain", choices=["file", "iter"])
    ap.add_argument("--model")
    ap.add_argument("--tokens")
    ap.add_argument("--out")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.plain:
        plain_gensim(args)
        return

    from dlcli.word2vec import iter_sentences

    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tokens = os.path.join(tmp, "tokens.txt")
        words = 0
        with open(tokens, "w", encoding="utf-8") as f:
            for sentence in iter_sentences([args.corpus]):
                f.write(" ".join(sentence) + "\n")
                words += len(sentence)
        print(
            f"corpus {args.corpus}: {words:,} words; {args.workers} workers, {args.epochs} "
            f"epochs, {args.size} dims, window 5, 5 negatives, min-count 5; "
            f"median of {args.repeat} runs (whole processes)\n"
        )
        common = [
            "--workers",
            str(args.workers),
            "--epochs",
            str(args.epochs),
            "--size",
            str(args.size),
        ]
        for model in args.models.split(","):
            variants = {
                "dlcli": [py, "-m", "dlcli", "word2vec", model, tokens, "--raw", *common, "--json"],
                "gensim corpus_file": [
                    py,
                    __file__,
                    "--plain",
                    "file",
                    "--model",
                    model,
                    "--tokens",
                    tokens,
                    "--workers",
                    str(args.workers),
                    "--epochs",
                    str(args.epochs),
                    "--size",
                    str(args.size),
                ],
            }
            if args.modes:
                variants["dlcli --no-loss"] = [*variants["dlcli"], "--no-loss"]
                variants["dlcli --stream"] = [*variants["dlcli"], "--stream"]
                variants["gensim iterator"] = [*variants["gensim corpus_file"]]
                variants["gensim iterator"][3] = "iter"
            seconds: dict[str, list[float]] = {k: [] for k in variants}
            scores: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
            inner: list[float] = []
            for r in range(args.repeat):
                for name, cmd in variants.items():
                    out = os.path.join(tmp, f"{model}-{r}-{name.replace(' ', '_')}.bin")
                    full = [*cmd, "--out", out, "--seed", str(r + 1)]  # same seed both sides
                    s, stdout = timed(full)
                    seconds[name].append(s)
                    scores[name].append(quality(out))
                    if name == "dlcli":
                        inner.append(json.loads(stdout)["words_per_second"])
            base = statistics.median(seconds["gensim corpus_file"])
            print(f"### {model}\n")
            print(
                "| program | seconds | words/s (whole process) | vs gensim | analogy acc. | "
                "WordSim ρ |"
            )
            print("|---|---:|---:|---:|---:|---:|")
            for name in variants:
                med = statistics.median(seconds[name])
                acc = [a for a, _ in scores[name]]
                rho = [b for _, b in scores[name]]
                print(
                    f"| {name} | {med:.2f} | {words * args.epochs / med:,.0f} | "
                    f"{base / med:.3f} | {statistics.mean(acc):.3f}{spread(acc)} | "
                    f"{statistics.mean(rho):.3f}{spread(rho)} |"
                )
            print(
                f"\ndlcli's own training-phase figure (JSON words_per_second): "
                f"{statistics.median(inner):,.0f} words/s\n",
                flush=True,
            )


if __name__ == "__main__":
    main()

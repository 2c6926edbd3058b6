"""Benchmark: `dlcli word2vec` against a plain gensim script, whole processes, same settings.

    .venv/bin/python tests/bench/bench_word2vec.py [--corpus FILE] [--workers 2] [--repeat 3]

Both sides get the same tokens: the corpus (default: the sample KJV) is tokenised once with
dlcli's tokeniser into a temporary file; dlcli then reads it with `--raw`, the plain script hands it
to gensim's `Word2Vec(corpus_file=...)`. Both save binary vectors. Runs alternate (dlcli, gensim,
dlcli, ...) so that load from other processes on the machine hits both alike; the figures are
the best (fastest: other processes only ever slow a run down) and the median of `--repeat` runs of

    words/s = corpus words x epochs / wall-clock seconds of the whole process

(start-up, reading, vocabulary, training and saving included), and the training phase alone
(`model.train`, as each program reports it: the cost of dlcli's progress and loss hooks), and
words per CPU-second (user + system time of all threads), which other processes on a shared
machine disturb far less than wall-clock time.
Quality: the analogy accuracy and WordSim-353 Spearman of every saved vector set (gensim's own
evaluation), mean ± standard deviation over the runs; run r uses seed r + 1 on both sides, so
the spread is run-to-run noise.

`--modes` adds the other paths: dlcli `--stream` (Python iterator) and `--loss`, and gensim
from an iterator (`LineSentence`), to see which is faster here.
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
    # What Word2Vec(corpus_file=...) / Word2Vec(sentences) do, with the training phase timed.
    model = Word2Vec(**kw)
    corpus = (
        {"corpus_file": args.tokens}
        if args.plain == "file"
        else {"corpus_iterable": LineSentence(args.tokens)}
    )
    model.build_vocab(**corpus)
    t = time.perf_counter()
    model.train(
        **corpus,
        total_examples=model.corpus_count,
        total_words=model.corpus_total_words,
        epochs=model.epochs,
    )
    seconds = time.perf_counter() - t
    model.wv.save_word2vec_format(args.out, binary=True)
    print(json.dumps({"words_per_second": model.corpus_total_words * model.epochs / seconds}))


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds (user + system, all threads), stdout) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return seconds, cpu, proc.stdout


def quality(path: str) -> tuple[float, float]:
    from dlcli.wordvec.api import evaluate_vectors

    r = evaluate_vectors(path)
    return r.analogy_accuracy or 0.0, r.pairs_spearman or 0.0


def spread(xs: list[float]) -> str:
    return f" ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(ROOT / "dlcli" / "sample_data" / "kjv.txt.gz"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--models", default="skipgram,cbow")
    ap.add_argument("--modes", action="store_true", help="also --stream, --loss, gensim iterator")
    # internal: run as the plain gensim script
    ap.add_argument("--plain", choices=["file", "iter"])
    ap.add_argument("--model")
    ap.add_argument("--tokens")
    ap.add_argument("--out")
    ap.add_argument("--seed", type=int, default=1)
    _results.add_argument(ap)
    args = ap.parse_args()
    if args.plain:
        plain_gensim(args)
        return

    from dlcli.wordvec.corpus import iter_sentences

    py = sys.executable
    rows = []
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
                variants["dlcli --loss"] = [*variants["dlcli"], "--loss"]
                variants["dlcli --stream"] = [*variants["dlcli"], "--stream"]
                variants["gensim iterator"] = [*variants["gensim corpus_file"]]
                variants["gensim iterator"][3] = "iter"
            seconds: dict[str, list[float]] = {k: [] for k in variants}
            cpu: dict[str, list[float]] = {k: [] for k in variants}
            inner: dict[str, list[float]] = {k: [] for k in variants}
            scores: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
            for r in range(args.repeat):
                for name, cmd in variants.items():
                    out = os.path.join(tmp, f"{model}-{r}-{name.replace(' ', '_')}.bin")
                    full = [*cmd, "--out", out, "--seed", str(r + 1)]  # same seed both sides
                    s, c, stdout = timed(full)
                    seconds[name].append(s)
                    cpu[name].append(c)
                    inner[name].append(json.loads(stdout)["words_per_second"])
                    scores[name].append(quality(out))
            best = min(seconds["gensim corpus_file"])
            med_base = statistics.median(seconds["gensim corpus_file"])
            train_base = max(inner["gensim corpus_file"])
            cpu_base = statistics.median(cpu["gensim corpus_file"])
            print(f"### {model}\n")
            print(
                "| program | words/s whole process, best (median) | vs gensim, best (median) "
                "| training phase words/s, best | vs gensim | words per CPU-second (median) "
                "| vs gensim | analogy acc. | WordSim ρ |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            for name in variants:
                low, med = min(seconds[name]), statistics.median(seconds[name])
                acc = [a for a, _ in scores[name]]
                rho = [b for _, b in scores[name]]
                train = max(inner[name])
                print(
                    f"| {name} | {words * args.epochs / low:,.0f} "
                    f"({words * args.epochs / med:,.0f}) | {best / low:.3f} ({med_base / med:.3f}) "
                    f"| {train:,.0f} | {train / train_base:.3f} "
                    f"| {words * args.epochs / statistics.median(cpu[name]):,.0f} "
                    f"| {cpu_base / statistics.median(cpu[name]):.3f} "
                    f"| {statistics.mean(acc):.3f}{spread(acc)} "
                    f"| {statistics.mean(rho):.3f}{spread(rho)} |"
                )
            print(flush=True)
            ratio = statistics.median(seconds["dlcli"]) / med_base
            detail = f"median {statistics.median(seconds['dlcli']):.1f} s vs {med_base:.1f} s"
            what = f"word2vec {model} / gensim script (whole process, {args.workers} workers)"
            rows.append(_results.row("word2vec", what, ratio, None, None, detail))
    _results.write(args.results, rows)


if __name__ == "__main__":
    main()

"""`dlcli word2vec`: train word vectors (cbow, skipgram), query (similar, analogy), evaluate.

Thin commands over `dlcli.word2vec` (gensim is imported there, inside functions): each builds a
`Word2VecConfig` or loads a vectors file, calls one backend function and renders the result as
Rich tables on stdout, or one JSON document with `--json`. Progress and notes go to stderr: a Rich
bar that moves inside each epoch on a terminal, one line per epoch otherwise.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlcli.cli.common import make_app, print_json, stderr_console, stdout_console
from dlcli.cli.options import JsonOpt, QuietOpt, SeedOpt

if TYPE_CHECKING:
    from dlcli.word2vec import EpochReport, Progress, TrainResult

word2vec_app = make_app(
    help="Word vectors with gensim's word2vec: train (cbow, skipgram), query (similar, analogy) "
    "and evaluate (Google analogies, WordSim-353).",
)

VectorsArg = Annotated[
    str,
    typer.Argument(
        metavar="VECTORS",
        help="Vectors in word2vec text (.txt/.vec) or binary (.bin) format.",
        show_default=False,
    ),
]
CountOpt = Annotated[int, typer.Option("-n", "--count", min=1, help="How many words to show.")]


def _quiet_gensim(verbose: bool) -> None:
    """gensim logs to the root logger; show its INFO lines with --verbose, else only errors."""
    if verbose:
        logging.basicConfig(
            format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO
        )
        logging.getLogger("gensim").setLevel(logging.INFO)
    else:
        logging.getLogger("gensim").setLevel(logging.ERROR)


def _fmt_words(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}k"
    return f"{n:.0f}"


def _epoch_line(e: EpochReport) -> str:
    loss = "" if e.loss is None else f"  loss {e.loss:.4f}"
    return (
        f"epoch {e.epoch}/{e.epochs}  {e.words:,} words  {e.seconds:.1f} s  "
        f"{e.words_per_second:,.0f} words/s  lr {e.learning_rate:.5f}{loss}"
    )


class _ProgressView:
    """A Rich bar over all epochs on stderr; moves with the backend's in-epoch snapshots."""

    def __init__(self, epochs: int) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.epochs = epochs
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            TextColumn(
                "{task.fields[done]} words  {task.fields[speed]} words/s  lr {task.fields[lr]}"
            ),
            TimeRemainingColumn(),
            console=stderr_console(),
            transient=True,
        )
        self.task: Any = None

    def start(self, stage: str) -> None:
        if stage != "training":
            stderr_console().print(f"[dim]{stage} ...[/]")
            return
        self.progress.start()

    def update(self, p: Progress) -> None:
        if self.task is None:
            self.task = self.progress.add_task(
                "train",
                total=p.epoch_words * p.epochs,
                epoch=1,
                epochs=p.epochs,
                speed="-",
                lr="-",
                done="0",
            )
        completed = (p.epoch - 1) * p.epoch_words + p.words_done
        self.progress.update(
            self.task,
            completed=completed,
            done=f"{_fmt_words(completed)}/{_fmt_words(p.epoch_words * p.epochs)}",
            epoch=p.epoch,
            speed=_fmt_words(p.words_per_second),
            lr=f"{p.learning_rate:.5f}",
        )

    def epoch(self, e: EpochReport) -> None:
        self.progress.console.print(_epoch_line(e))

    def stop(self) -> None:
        self.progress.stop()


def _train(
    ctx: typer.Context,
    corpus: Annotated[
        str | None,
        typer.Argument(
            metavar="[CORPUS]",
            help="A text file (.gz/.bz2/.xz too), a folder of .txt files, or '-' for stdin "
            "(default: the King James Bible in sample_data/).",
            show_default=False,
        ),
    ] = None,
    size: Annotated[
        int, typer.Option("--size", "-s", help="Dimensions of the vectors (50-300 is usual).")
    ] = 100,
    window: Annotated[int, typer.Option("--window", "-w", help="Context words on each side.")] = 5,
    negative: Annotated[
        int | None,
        typer.Option(
            "--negative",
            help="Noise words per positive pair (negative sampling) (default: 5; 0 with --hs).",
            show_default=False,
        ),
    ] = None,
    hs: Annotated[
        bool, typer.Option("--hs", help="Hierarchical softmax instead of negative sampling.")
    ] = False,
    min_count: Annotated[int, typer.Option("--min-count", help="Drop words seen fewer times.")] = 5,
    sample: Annotated[
        float, typer.Option("--sample", help="Down-sampling threshold of frequent words (0: off).")
    ] = 1e-3,
    epochs: Annotated[int, typer.Option("--epochs", "-e", help="Passes over the corpus.")] = 5,
    alpha: Annotated[
        float, typer.Option("--alpha", help="Initial learning rate (falls linearly to 0.0001).")
    ] = 0.025,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-j", help="Worker threads (default: all cores).", show_default=False
        ),
    ] = None,
    seed: SeedOpt = 1,
    no_lowercase: Annotated[bool, typer.Option("--no-lowercase", help="Keep upper case.")] = False,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Pre-tokenised corpus: split on whitespace only, keep case and punctuation.",
        ),
    ] = False,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="Train from a Python iterator instead of gensim's faster corpus_file mode.",
        ),
    ] = False,
    loss: Annotated[
        bool,
        typer.Option(
            "--loss", help="Compute the loss per epoch (costs ~3% of skip-gram's throughput)."
        ),
    ] = False,
    neighbours: Annotated[
        int,
        typer.Option(
            "--neighbours", min=0, help="Frequent words shown with their nearest neighbours."
        ),
    ] = 5,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Save the vectors: .txt/.vec (word2vec text) or .bin (word2vec binary).",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show gensim's own log on stderr.")
    ] = False,
) -> None:
    """Train word vectors on CORPUS.

    Example: dlcli word2vec skipgram --epochs 5 --out kjv.bin
    """
    from dlcli.word2vec import Word2VecConfig, train_word2vec

    cfg = Word2VecConfig(
        model=ctx.info_name or "skipgram",
        corpus=corpus,
        size=size,
        window=window,
        negative=negative if negative is not None else (0 if hs else 5),
        hs=hs,
        min_count=min_count,
        sample=sample,
        epochs=epochs,
        alpha=alpha,
        workers=workers,
        seed=seed,
        lowercase=not no_lowercase,
        raw=raw,
        stream=stream,
        compute_loss=loss,
        out=out,
        neighbours=0 if json_out else neighbours,
    )
    _quiet_gensim(verbose)

    def warn(message: str) -> None:
        print(f"dlcli: warning: {message}", file=sys.stderr, flush=True)

    view = _ProgressView(epochs) if (sys.stderr.isatty() and not quiet) else None
    try:
        result = train_word2vec(
            cfg,
            on_progress=view.update if view else None,
            on_epoch=view.epoch
            if view
            else (None if quiet else lambda e: print(_epoch_line(e), file=sys.stderr, flush=True)),
            on_warning=warn,
            on_stage=view.start if view else None,
        )
    finally:
        if view:
            view.stop()
    if json_out:
        print_json(_train_json(result))
        return
    if quiet:
        return
    _render_train(result)


def _train_json(r: TrainResult) -> dict[str, Any]:
    return {
        "model": r.model,
        "corpus": r.corpus,
        "vocab_size": r.vocab_size,
        "dim": r.dim,
        "corpus_words": r.corpus_words,
        "sentences": r.corpus_sentences,
        "epochs": r.epochs,
        "workers": r.workers,
        "mode": r.mode,
        "seconds": round(r.seconds, 3),
        "prepare_seconds": round(r.prepare_seconds, 3),
        "train_seconds": round(r.train_seconds, 3),
        "words_per_second": round(r.words_per_second, 1),
        "loss": r.losses if any(x is not None for x in r.losses) else None,
        "out": r.out,
    }


def _render_train(r: TrainResult) -> None:
    from rich.table import Table

    console = stdout_console()
    summary = Table(title=f"word2vec {r.model}", show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    rows = [
        ("corpus", r.corpus),
        ("corpus words", f"{r.corpus_words:,} in {r.corpus_sentences:,} sentences"),
        ("vocabulary", f"{r.vocab_size:,} words x {r.dim} dims"),
        ("training", f"{r.epochs} epochs, {r.workers} workers, {r.mode} mode"),
        (
            "time",
            f"{r.seconds:.1f} s ({r.prepare_seconds:.1f} s reading, "
            f"{r.train_seconds:.1f} s training)",
        ),
        ("speed", f"{r.words_per_second:,.0f} words/s"),
    ]
    if r.losses and r.losses[-1] is not None:
        rows.append(("loss per word", " → ".join(f"{x:.3f}" for x in r.losses if x is not None)))
    rows.append(("saved to", r.out or "not saved (use --out FILE)"))
    for key, value in rows:
        summary.add_row(key, value)
    console.print(summary)
    if r.neighbours:
        table = Table(title="nearest neighbours (cosine)")
        table.add_column("word", style="bold")
        table.add_column("neighbours")
        for word, near in r.neighbours:
            table.add_row(word, ", ".join(f"{w} {s:.2f}" for w, s in near))
        console.print(table)


word2vec_app.command(
    "cbow",
    help="Train CBOW word vectors (context predicts the word) on CORPUS.\n\n"
    "Example: dlcli word2vec cbow corpus.txt --size 100 --out vectors.bin",
)(_train)
word2vec_app.command(
    "skipgram",
    help="Train skip-gram word vectors (the word predicts its context) on CORPUS.\n\n"
    "Example: dlcli word2vec skipgram --epochs 5 --out kjv.bin",
)(_train)


def _neighbour_rows(title: str, rows: list[tuple[str, float]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("word")
    table.add_column("cosine", justify="right")
    for i, (word, sim) in enumerate(rows, 1):
        table.add_row(str(i), word, f"{sim:.4f}")
    stdout_console().print(table)


@word2vec_app.command("similar", no_args_is_help=True)
def similar(
    vectors: VectorsArg,
    word: Annotated[str, typer.Argument(help="The word to look up.", show_default=False)],
    count: CountOpt = 10,
    json_out: JsonOpt = False,
) -> None:
    """The nearest words to WORD by cosine similarity.

    Example: dlcli word2vec similar kjv.bin king -n 5
    """
    from dlcli import word2vec as w2v

    _quiet_gensim(False)
    rows = w2v.similar(w2v.load_vectors(vectors), word, count)
    if json_out:
        print_json({"word": word, "neighbours": [{"word": w, "similarity": s} for w, s in rows]})
        return
    _neighbour_rows(f"nearest to {word!r}", rows)


@word2vec_app.command("analogy", no_args_is_help=True)
def analogy(
    vectors: VectorsArg,
    a: Annotated[str, typer.Argument(metavar="A", show_default=False)],
    b: Annotated[str, typer.Argument(metavar="B", show_default=False)],
    c: Annotated[str, typer.Argument(metavar="C", show_default=False)],
    count: CountOpt = 5,
    json_out: JsonOpt = False,
) -> None:
    """A is to B as C is to ?  (the words nearest to B - A + C).

    Example: dlcli word2vec analogy vectors.bin man king woman   (-> queen)
    """
    from dlcli import word2vec as w2v

    _quiet_gensim(False)
    rows = w2v.analogy(w2v.load_vectors(vectors), a, b, c, count)
    if json_out:
        print_json(
            {"a": a, "b": b, "c": c, "answers": [{"word": w, "similarity": s} for w, s in rows]}
        )
        return
    _neighbour_rows(f"{a} : {b} = {c} : ?", rows)


@word2vec_app.command("evaluate", no_args_is_help=True)
def evaluate(
    vectors: VectorsArg,
    analogies: Annotated[
        str | None,
        typer.Option(
            "--analogies",
            metavar="FILE",
            help="Analogy questions (default: gensim's Google set).",
            show_default=False,
        ),
    ] = None,
    pairs: Annotated[
        str | None,
        typer.Option(
            "--pairs",
            metavar="FILE",
            help="Word pairs with scores, tab-separated (default: WordSim-353).",
            show_default=False,
        ),
    ] = None,
    restrict_vocab: Annotated[
        int,
        typer.Option(
            "--restrict-vocab",
            min=1,
            help="Only the most frequent words count as known (as gensim).",
        ),
    ] = 300_000,
    case_sensitive: Annotated[
        bool, typer.Option("--case-sensitive", help="Match words with their case.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Analogy accuracy (per section, semantic vs syntactic) and word-pair Spearman correlation.

    Example: dlcli word2vec evaluate kjv.bin --json
    """
    from dlcli import word2vec as w2v

    _quiet_gensim(False)
    result = w2v.evaluate_vectors(
        w2v.load_vectors(vectors), analogies, pairs, restrict_vocab, not case_sensitive
    )
    if json_out:
        print_json(result)
        return
    _render_evaluation(result)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _render_evaluation(r: dict[str, Any]) -> None:
    from rich.table import Table

    console = stdout_console()
    table = Table(title="analogies (3CosAdd)")
    table.add_column("section")
    table.add_column("correct", justify="right")
    table.add_column("evaluated", justify="right")
    table.add_column("accuracy", justify="right")
    for s in r["sections"]:
        table.add_row(s["section"], str(s["correct"]), str(s["evaluated"]), _pct(s["accuracy"]))
    console.print(table)
    spearman = "-" if r["pairs_spearman"] is None else f"{r['pairs_spearman']:.4f}"
    summary = Table(title="summary", show_header=False)
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    for key, value in (
        ("semantic accuracy", _pct(r["semantic_accuracy"])),
        ("syntactic accuracy", _pct(r["syntactic_accuracy"])),
        ("analogy accuracy", _pct(r["analogy_accuracy"])),
        ("analogy coverage", f"{_pct(r['analogy_coverage'])} of {r['analogy_questions']:,}"),
        ("pairs Spearman", spearman),
        ("pairs coverage", f"{_pct(r['pairs_coverage'])} of {r['pairs_total']:,}"),
    ):
        summary.add_row(key, value)
    console.print(summary)

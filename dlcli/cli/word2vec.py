"""`dlcli word2vec`: train word vectors (cbow, skipgram), query (similar, analogy), evaluate.

Thin commands over `dlcli.wordvec` (gensim is imported there, inside functions): each builds a
`Word2VecConfig` (whose defaults are the options' defaults) or loads a vectors file, calls one
backend function and renders the result: Rich tables on stdout, `result.to_dict()` with `--json`,
one bare answer with `-q`. Progress and notes go to stderr: a Rich bar that moves inside each
epoch on a terminal, one line per epoch otherwise; none with `-q`.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlcli.cli.common import (
    make_app,
    print_json,
    show_table,
    stderr_console,
    stdout_console,
    warn,
)
from dlcli.cli.data import download_progress
from dlcli.cli.options import JsonOpt, QuietOpt, SeedOpt
from dlcli.wordvec.config import NEGATIVE, Word2VecConfig

if TYPE_CHECKING:
    from dlcli.wordvec.train import EpochReport, Progress, TrainResult
    from dlcli.wordvec.vectors import Evaluation

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


def _count(n: int, noun: str) -> str:
    """'1 worker', '2 workers'."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


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


_D = Word2VecConfig  # the defaults: dataclass fields read as class attributes
QUIET_TRAIN = (
    "With -q: no progress on stderr, and on stdout only the path of the saved vectors "
    "(--out), or 'VOCAB_SIZE DIM' when nothing was saved; --json wins over -q."
)


def _train(
    ctx: typer.Context,
    corpus: Annotated[
        str | None,
        typer.Argument(
            metavar="[CORPUS]",
            help="A text file (.gz/.bz2/.xz too), a folder of .txt files, '-' for stdin, or "
            "text8 (downloaded once; see 'dlcli data') "
            "(default: the King James Bible in sample_data/).",
            show_default=False,
        ),
    ] = _D.corpus,
    size: Annotated[
        int, typer.Option("--size", "-s", help="Dimensions of the vectors (50-300 is usual).")
    ] = _D.size,
    window: Annotated[
        int, typer.Option("--window", "-w", help="Context words on each side.")
    ] = _D.window,
    negative: Annotated[
        int | None,
        typer.Option(
            "--negative",
            help="Noise words per positive pair (negative sampling) "
            f"(default: {NEGATIVE}; 0 with --hs).",
            show_default=False,
        ),
    ] = _D.negative,
    hs: Annotated[
        bool, typer.Option("--hs", help="Hierarchical softmax instead of negative sampling.")
    ] = _D.hs,
    min_count: Annotated[
        int, typer.Option("--min-count", help="Drop words seen fewer times.")
    ] = _D.min_count,
    sample: Annotated[
        float, typer.Option("--sample", help="Down-sampling threshold of frequent words (0: off).")
    ] = _D.sample,
    epochs: Annotated[int, typer.Option("--epochs", "-e", help="Passes over the corpus.")] = (
        _D.epochs
    ),
    alpha: Annotated[
        float,
        typer.Option("--alpha", help=f"Initial learning rate (falls linearly to {_D.min_alpha})."),
    ] = _D.alpha,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-j",
            help="gensim's worker threads, and the tokenising pass's processes on corpora over "
            "16 MB (default: all cores).",
            show_default=False,
        ),
    ] = _D.workers,
    seed: SeedOpt = _D.seed,
    no_lowercase: Annotated[
        bool, typer.Option("--no-lowercase", help="Keep upper case.")
    ] = not _D.lowercase,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Pre-tokenised corpus: split on whitespace only, keep case and punctuation.",
        ),
    ] = _D.raw,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="Train from a Python iterator instead of gensim's faster corpus_file mode.",
        ),
    ] = _D.stream,
    loss: Annotated[
        bool,
        typer.Option(
            "--loss", help="Compute the loss per epoch (costs ~3% of skip-gram's throughput)."
        ),
    ] = _D.compute_loss,
    neighbours: Annotated[
        int,
        typer.Option(
            "--neighbours", min=0, help="Frequent words shown with their nearest neighbours."
        ),
    ] = _D.neighbours,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="Save the vectors: .txt/.vec (word2vec text) or .bin (word2vec binary).",
            show_default=False,
        ),
    ] = _D.out,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show gensim's own log on stderr.")
    ] = False,
) -> None:
    from dlcli.wordvec.train import train_word2vec

    cfg = Word2VecConfig(
        model=ctx.info_name or _D.model,
        corpus=corpus,
        size=size,
        window=window,
        negative=negative,
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
        neighbours=0 if (json_out or quiet) else neighbours,
    )
    _quiet_gensim(verbose)
    view = _ProgressView(epochs) if (sys.stderr.isatty() and not quiet) else None
    epoch_line = None if quiet else (lambda e: print(_epoch_line(e), file=sys.stderr, flush=True))
    try:
        with download_progress(quiet):  # text8 on first use
            result = train_word2vec(
                cfg,
                on_progress=view.update if view else None,
                on_epoch=view.epoch if view else epoch_line,
                on_warning=warn,
                on_stage=view.start if view else None,
            )
    finally:
        if view:
            view.stop()
    if json_out:
        print_json(result.to_dict())
    elif quiet:
        print(result.out if result.out else f"{result.vocab_size} {result.dim}")
    else:
        _render_train(result)


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
        ("training", f"{r.epochs} epochs, {_count(r.workers, 'worker')}, {r.mode} mode"),
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
        table = Table(title="nearest neighbours (cosine similarity)")
        table.add_column("word", style="bold")
        table.add_column("neighbours")
        for word, near in r.neighbours:
            table.add_row(word, ", ".join(f"{w} {s:.2f}" for w, s in near))
        show_table(table, console)


word2vec_app.command(
    "cbow",
    help="Train CBOW word vectors (context predicts the word) on CORPUS.\n\n"
    f"{QUIET_TRAIN}\n\n"
    "Example: dlcli word2vec cbow corpus.txt --size 100 --out vectors.bin",
)(_train)
word2vec_app.command(
    "skipgram",
    help="Train skip-gram word vectors (the word predicts its context) on CORPUS.\n\n"
    f"{QUIET_TRAIN}\n\n"
    "Example: dlcli word2vec skipgram --epochs 5 --out kjv.bin",
)(_train)


def _neighbour_rows(title: str, rows: list[tuple[str, float]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("word")
    table.add_column("similarity", justify="right")
    for i, (word, sim) in enumerate(rows, 1):
        table.add_row(str(i), word, f"{sim:.4f}" if sim == sim else "-")  # NaN: undefined
    show_table(table)


@word2vec_app.command("similar", no_args_is_help=True)
def similar(
    vectors: VectorsArg,
    word: Annotated[str, typer.Argument(help="The word to look up.", show_default=False)],
    count: CountOpt = 10,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """The nearest words to WORD by cosine similarity.

    With -q: only the words, one per line.

    Example: dlcli word2vec similar kjv.bin king -n 5
    """
    from dlcli.wordvec import api

    _quiet_gensim(False)
    result = api.similar(vectors, word, count)
    _warn_undefined(result.neighbours)
    if json_out:
        print_json(result.to_dict())
    elif quiet:
        _print_words(result.neighbours)
    else:
        _neighbour_rows(f"nearest to {word!r}", result.neighbours)


def _warn_undefined(found: list[tuple[str, float]]) -> None:
    """Cosines with a zero vector are undefined: say so once (JSON and tables show null / -)."""
    import math

    if any(not math.isfinite(score) for _, score in found):
        warn("a zero vector is involved: its cosine similarities are undefined (shown as null)")


@word2vec_app.command("analogy", no_args_is_help=True)
def analogy(
    vectors: VectorsArg,
    a: Annotated[str, typer.Argument(metavar="A", show_default=False)],
    b: Annotated[str, typer.Argument(metavar="B", show_default=False)],
    c: Annotated[str, typer.Argument(metavar="C", show_default=False)],
    count: CountOpt = 5,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """A is to B as C is to ?  (the words nearest to B - A + C).

    With -q: only the words, one per line.

    Example: dlcli word2vec analogy vectors.bin man king woman   (-> queen)
    """
    from dlcli.wordvec import api

    _quiet_gensim(False)
    result = api.analogy(vectors, a, b, c, count)
    _warn_undefined(result.answers)
    if json_out:
        print_json(result.to_dict())
    elif quiet:
        _print_words(result.answers)
    else:
        _neighbour_rows(f"{a} : {b} = {c} : ?", result.answers)


def _print_words(rows: list[tuple[str, float]]) -> None:
    sys.stdout.write("".join(f"{w}\n" for w, _ in rows))


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
    quiet: QuietOpt = False,
) -> None:
    """Analogy accuracy (per section, semantic vs syntactic) and word-pair Spearman correlation.

    With -q: one line, 'ANALOGY_ACCURACY PAIRS_SPEARMAN' ('-' where nothing was evaluated).

    Example: dlcli word2vec evaluate kjv.bin --json
    """
    from dlcli.wordvec import api

    _quiet_gensim(False)
    result = api.evaluate_vectors(
        vectors,
        analogies,
        pairs,
        restrict_vocab=restrict_vocab,
        case_insensitive=not case_sensitive,
    )
    if json_out:
        print_json(result.to_dict())
    elif quiet:
        print(" ".join(_bare(x) for x in (result.analogy_accuracy, result.pairs_spearman)))
    else:
        _render_evaluation(result)


def _bare(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _render_evaluation(e: Evaluation) -> None:
    from rich.table import Table

    console = stdout_console()
    table = Table(title="analogies (3CosAdd)")
    table.add_column("section")
    table.add_column("correct", justify="right")
    table.add_column("evaluated", justify="right")
    table.add_column("accuracy", justify="right")
    r = e.to_dict()
    for s in r["sections"]:
        table.add_row(s["section"], str(s["correct"]), str(s["evaluated"]), _pct(s["accuracy"]))
    show_table(table, console)
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

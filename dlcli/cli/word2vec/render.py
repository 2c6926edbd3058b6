"""What `dlcli word2vec` shows: the training progress (a Rich bar on a terminal, one line per
epoch otherwise) and the tables of training, neighbours and evaluation results.

Rich is imported inside the functions, so that importing the command group costs nothing.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from dlcli.cli.common import show_table, stderr_console, stdout_console

if TYPE_CHECKING:
    from dlcli.wordvec.train import EpochReport, Progress, TrainResult
    from dlcli.wordvec.vectors import Evaluation


def _fmt_words(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    if n >= 1e3:
        return f"{n / 1e3:.0f}k"
    return f"{n:.0f}"


def _count(n: int, noun: str) -> str:
    """'1 worker', '2 workers'."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def epoch_line(e: EpochReport) -> str:
    loss = "" if e.loss is None else f"  loss {e.loss:.4f}"
    return (
        f"epoch {e.epoch}/{e.epochs}  {e.words:,} words  {e.seconds:.1f} s  "
        f"{e.words_per_second:,.0f} words/s  lr {e.learning_rate:.5f}{loss}"
    )


def print_epoch(e: EpochReport) -> None:
    """One line per epoch on stderr (no terminal: no bar)."""
    print(epoch_line(e), file=sys.stderr, flush=True)


class ProgressView:
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
        self.progress.console.print(epoch_line(e))

    def stop(self) -> None:
        self.progress.stop()


def render_train(r: TrainResult) -> None:
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


def neighbour_rows(title: str, rows: list[tuple[str, float]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("word")
    table.add_column("similarity", justify="right")
    for i, (word, sim) in enumerate(rows, 1):
        table.add_row(str(i), word, f"{sim:.4f}" if sim == sim else "-")  # NaN: undefined
    show_table(table)


def print_words(rows: list[tuple[str, float]]) -> None:
    sys.stdout.write("".join(f"{w}\n" for w, _ in rows))


def bare(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def render_evaluation(e: Evaluation) -> None:
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

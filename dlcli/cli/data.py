"""`dlcli data list|fetch|path`: the standard datasets' cache (thin commands over dlcli.datasets).

Each command calls one library function and renders its result: a Rich table for people,
`to_dict()` with `--json`, the bare answer with `-q`. Downloads show a Rich bar on stderr when
it is a terminal, one line per file otherwise, nothing with `-q`; the library only reports
progress through its callback. `download_progress` gives `dlcli train` and `dlcli word2vec` the
same bar when a named dataset is downloaded inside them, and `dlcli train` a bar (`DecodeView`)
while an image folder is decoded.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dlcli.cli.common import make_app, print_json, show_table, stderr_console
from dlcli.cli.options import JsonOpt, QuietOpt

if TYPE_CHECKING:
    from dlcli.datasets.download import DownloadProgress
    from dlcli.training.data import DecodeProgress

data_app = make_app(
    help="The standard datasets (mnist, fashion-mnist, cifar10, cifar100, imdb, text8, "
    "boston_housing): "
    "list them, download them ahead of use, show where they are cached.",
)

NameArg = Annotated[
    str,
    typer.Argument(
        metavar="NAME",
        help="mnist, fashion-mnist, cifar10, cifar100, imdb, text8 or boston_housing.",
        show_default=False,
    ),
]


def _size(n: int) -> str:
    if n >= 100_000:
        return f"{n / 1e6:,.1f} MB"
    return f"{n / 1e3:,.1f} kB" if n >= 1000 else f"{n} bytes"


class DownloadView:
    """Download progress on stderr: a Rich bar on a terminal, one line per file otherwise."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def __call__(self, event: DownloadProgress) -> None:
        key = f"{event.dataset}/{event.file}"
        if not self.tty:
            if key not in self.tasks:
                self.tasks[key] = True
                size = f" ({_size(event.total)})" if event.total else ""
                print(f"dlcli: downloading {event.url}{size}", file=sys.stderr, flush=True)
            return
        if self.progress is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=stderr_console(),
            )
            self.progress.start()
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(key, total=event.total or None)
        self.progress.update(self.tasks[key], completed=event.done, total=event.total or None)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


class DecodeView:
    """Image-decoding progress on stderr: a Rich bar on a terminal, one line otherwise (for
    folders of DECODE_LINE_FROM images or more: small ones decode in a blink)."""

    DECODE_LINE_FROM = 1000

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def __call__(self, event: DecodeProgress) -> None:
        if not self.tty:
            if event.source not in self.tasks and event.total >= self.DECODE_LINE_FROM:
                self.tasks[event.source] = True
                print(
                    f"dlcli: decoding {event.total:,} images of {event.source}",
                    file=sys.stderr,
                    flush=True,
                )
            return
        if self.progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]decoding {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=stderr_console(),
            )
            self.progress.start()
        if event.source not in self.tasks:
            self.tasks[event.source] = self.progress.add_task(event.source, total=event.total)
        self.progress.update(self.tasks[event.source], completed=event.done)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextlib.contextmanager
def download_progress(quiet: bool) -> Iterator[None]:
    """Show the progress of any download inside the block (`dlcli train --data cifar10`,
    `dlcli word2vec skipgram text8` on first use), and of decoding an image folder; nothing
    with -q."""
    from dlcli.datasets.download import reporting
    from dlcli.training.data import reporting_decode

    tty = sys.stderr.isatty()
    view = None if quiet else DownloadView(tty)
    decode_view = None if quiet else DecodeView(tty)
    try:
        with reporting(view), reporting_decode(decode_view):
            yield
    finally:
        for v in (view, decode_view):
            if v is not None:
                v.close()


@data_app.command("list")
def list_(json_out: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """The standard datasets: size of the original files, classes, official train/test sizes,
    whether they are cached, and where.

    \b
    Examples:
      dlcli data list
      dlcli data list --json
    """
    import dlcli

    result = dlcli.list_datasets()
    if json_out:
        print_json(result.to_dict())
        return
    if quiet:
        for d in result.datasets:
            print(d.info.name)
        return
    from rich.table import Table

    table = Table(
        title=f"standard datasets, cached in {result.data_dir}/NAME", title_justify="left"
    )
    for column in ("name", "kind", "size", "classes", "train / test", "cached"):
        table.add_column(column, justify="right" if column in ("size", "train / test") else "left")
    for d in result.datasets:
        info = d.info
        counts = (
            f"{info.train:,} words" if info.kind == "corpus" else f"{info.train:,} / {info.test:,}"
        )
        table.add_row(
            info.name,
            info.kind,
            _size(sum(f.size for f in info.files)),
            str(info.classes or "-"),
            counts,
            "yes" if d.cached else "no",
        )
    show_table(table)


@data_app.command(no_args_is_help=True)
def fetch(
    names: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME...",
            help="Datasets to download (see 'dlcli data list').",
            show_default=False,
        ),
    ],
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Download datasets into the cache ahead of use (e.g. on a login node) and verify their
    SHA-256; files already cached and intact are not fetched again.

    \b
    Examples:
      dlcli data fetch cifar10
      DLCLI_DATA_DIR=/scratch/data dlcli data fetch mnist fashion-mnist --json
    """
    import dlcli

    view = None if quiet else DownloadView(sys.stderr.isatty())
    results = []
    try:
        for name in names:
            results.append(dlcli.fetch(name, on_progress=view))
    finally:
        if view is not None:
            view.close()
    if json_out:
        print_json({"datasets": [r.to_dict() for r in results]})
        return
    for r in results:
        if quiet:
            print(r.path)
            continue
        got = r.downloaded
        how = f"downloaded {_size(got)}" if got else "already cached"
        print(f"{r.name}: {len(r.files)} file(s) verified, {how}; in {r.path}")


@data_app.command(no_args_is_help=True)
def path(name: NameArg, json_out: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Where a dataset's files are cached (or will be): its folder. Nothing is downloaded.

    \b
    Examples:
      dlcli data path cifar10
      ls "$(dlcli data path mnist -q)"
    """
    import dlcli

    result = dlcli.dataset_path(name)
    if json_out:
        print_json(result.to_dict())
        return
    print(result.path)
    if not quiet and not result.cached:
        print(
            f"dlcli: note: {result.name} is not cached yet ('dlcli data fetch {result.name}')",
            file=sys.stderr,
        )

"""`dlcli word2vec`: train word vectors (cbow, skipgram), query (similar, analogy), evaluate.

Thin commands over `dlcli.wordvec` (gensim is imported there, inside functions): each builds a
`Word2VecConfig` or loads a vectors file, calls one backend function and renders the result:
Rich tables on stdout, `result.to_dict()` with `--json`, one bare answer with `-q`. The options
of cbow and skipgram are generated from Word2VecConfig's fields (name, default, help and flag
in their metadata), as `dlcli train`'s are from the training configs: a new knob is one field.
Progress and notes go to stderr: a Rich bar that moves inside each epoch on a terminal, one
line per epoch otherwise; none with `-q` (render.py draws them, and the tables).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import sys
import typing
from typing import Annotated, Any

import typer

from dlcli.cli.common import make_app, print_json, warn
from dlcli.cli.data import download_progress
from dlcli.cli.options import JsonOpt, QuietOpt
from dlcli.cli.word2vec import render
from dlcli.wordvec.config import RESTRICT_VOCAB, Word2VecConfig

KEYWORD = inspect.Parameter.KEYWORD_ONLY

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


QUIET_TRAIN = (
    "With -q: no progress on stderr, and on stdout only the path of the saved vectors "
    "(--out), or 'VOCAB_SIZE DIM' when nothing was saved; --json wins over -q."
)
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show gensim's own log on stderr.")
]


def _config_parameter(f: dataclasses.Field[Any], hint: Any) -> inspect.Parameter:
    """The Typer argument or option of one `Word2VecConfig` field, from its metadata: the flag
    is the field's name (`min_count` -> --min-count) unless `flag` says otherwise; a `negate`d
    flag (`--no-lowercase`) is the parameter `no_lowercase`, True where the field is False."""
    meta = f.metadata
    if meta.get("argument"):
        info: Any = typer.Argument(metavar=meta["metavar"], help=meta["help"], show_default=False)
        return inspect.Parameter(
            f.name, KEYWORD, default=f.default, annotation=Annotated[hint, info]
        )
    flag = meta.get("flag") or "--" + f.name.replace("_", "-")
    names = [flag] + ([meta["short"]] if "short" in meta else [])
    extra = {k: meta[k] for k in ("metavar", "min") if k in meta}
    if f.default is None:  # the help says what None means
        extra["show_default"] = False
    option = typer.Option(*names, help=meta["help"], **extra)
    name, default = f.name, f.default
    if meta.get("negate"):
        name, default = flag[2:].replace("-", "_"), not default
    return inspect.Parameter(name, KEYWORD, default=default, annotation=Annotated[hint, option])


def _train_parameters() -> list[inspect.Parameter]:
    """`cbow`'s and `skipgram`'s parameters: Word2VecConfig's fields (but those with
    cli=False), then the output options."""
    hints = typing.get_type_hints(Word2VecConfig)
    params = [inspect.Parameter("ctx", KEYWORD, annotation=typer.Context)]
    params += [
        _config_parameter(f, hints[f.name])
        for f in dataclasses.fields(Word2VecConfig)
        if f.metadata.get("cli", True)
    ]
    for name, annotation in (("json_out", JsonOpt), ("quiet", QuietOpt), ("verbose", VerboseOpt)):
        params.append(inspect.Parameter(name, KEYWORD, default=False, annotation=annotation))
    return params


def _config(model: str, options: dict[str, Any]) -> Word2VecConfig:
    """The config of the command line's options (negated flags turned back)."""
    knobs: dict[str, Any] = {}
    for f in dataclasses.fields(Word2VecConfig):
        if not f.metadata.get("cli", True):
            continue
        if f.metadata.get("negate"):
            flag = f.metadata["flag"]
            knobs[f.name] = not options[flag[2:].replace("-", "_")]
        else:
            knobs[f.name] = options[f.name]
    if options["json_out"] or options["quiet"]:
        knobs["neighbours"] = 0  # no table to show them in
    return Word2VecConfig(model=model, **knobs)


def _train(ctx: typer.Context, **options: Any) -> None:
    from dlcli.wordvec.train import train_word2vec

    cfg = _config(ctx.info_name or Word2VecConfig.model, options)
    json_out, quiet = options["json_out"], options["quiet"]
    _quiet_gensim(options["verbose"])
    view = render.ProgressView(cfg.epochs) if (sys.stderr.isatty() and not quiet) else None
    epoch_line = (
        None if quiet else (lambda e: print(render.epoch_line(e), file=sys.stderr, flush=True))
    )
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
        render.render_train(result)


_train.__signature__ = inspect.Signature(_train_parameters())  # type: ignore[attr-defined]
_train.__annotations__ = {p.name: p.annotation for p in _train.__signature__.parameters.values()}  # type: ignore[attr-defined]


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
        render.print_words(result.neighbours)
    else:
        render.neighbour_rows(f"nearest to {word!r}", result.neighbours)


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
        render.print_words(result.answers)
    else:
        render.neighbour_rows(f"{a} : {b} = {c} : ?", result.answers)


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
    ] = RESTRICT_VOCAB,
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
        print(" ".join(render.bare(x) for x in (result.analogy_accuracy, result.pairs_spearman)))
    else:
        render.render_evaluation(result)

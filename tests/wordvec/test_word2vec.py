"""`dlcli word2vec`: tokenising, training, saving, querying and evaluating, checked against gensim.

Oracles, not hand-typed numbers: with one worker and the same seed our vectors must equal the
ones gensim trains directly on the same tokens (both the corpus_file and the iterator path); the
loss must equal gensim's own running loss where that one is exact (one worker); `evaluate` must
give gensim's `evaluate_word_analogies` / `evaluate_word_pairs` numbers. Corpora are gensim's
bundled Lee news text (60k words), a few epochs, small vectors.
"""

from __future__ import annotations

import bz2
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from gensim.models import KeyedVectors, Word2Vec
from gensim.models.word2vec import LineSentence
from gensim.test.utils import datapath
from typer.testing import CliRunner

from dlcli.cli.app import app
from dlcli.errors import InputError
from dlcli.tokens import tokenizer
from dlcli.wordvec import corpus as w2v_corpus
from dlcli.wordvec import tokenise
from dlcli.wordvec.config import Word2VecConfig
from dlcli.wordvec.train import train_word2vec

LEE = datapath("lee_background.cor")
FAST = ["--size", "16", "--epochs", "2", "--workers", "1", "--neighbours", "0"]
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def lee_tokens(tmp_path_factory) -> str:
    """Lee's corpus tokenised by our tokeniser: one sentence per line, space-separated."""
    path = tmp_path_factory.mktemp("lee") / "lee.tok"
    with open(path, "w", encoding="utf-8") as f:
        for sentence in w2v_corpus.iter_sentences([LEE]):
            f.write(" ".join(sentence) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def lee_vectors(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("vec") / "lee.bin"
    cfg = Word2VecConfig(
        model="skipgram",
        corpus=LEE,
        size=32,
        epochs=3,
        workers=2,
        min_count=2,
        out=str(out),
        neighbours=0,
    )
    train_word2vec(cfg)
    return str(out)


def run(args: list[str], input: str | bytes | None = None):
    return CliRunner().invoke(app, args, input=input)


def assert_input_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dlcli: error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --------------------------------------------------------------------------- tokenising


def test_tokeniser_lowercases_and_drops_punctuation():
    tok = tokenizer()
    assert tok("And God said, Let there be light: and there was light.") == [
        "and",
        "god",
        "said",
        "let",
        "there",
        "be",
        "light",
        "and",
        "there",
        "was",
        "light",
    ]
    assert tok("Don't stop -- well-known, 'quoted' (x) 1611 A.D. naïve Æsop’s") == [
        "don't",
        "stop",
        "well-known",
        "quoted",
        "x",
        "1611",
        "a",
        "d",
        "naïve",
        "æsop’s",
    ]
    assert tokenizer(lowercase=False)("The LORD said.") == ["The", "LORD", "said"]
    assert tokenizer(raw=True)("The LORD, said.") == ["The", "LORD,", "said."]


def test_long_lines_are_cut_like_gensim_linesentence(tmp_path, monkeypatch):
    """A 25,000-word line read in 100-character pieces gives gensim's 10,000-word chunks."""
    monkeypatch.setattr(tokenise, "READ_CHUNK", 100)
    words = [f"w{i % 997}" for i in range(25_000)]
    path = tmp_path / "long.txt"
    path.write_text("a b c\n\n" + " ".join(words) + "\nlast line no newline")
    ours = list(w2v_corpus.iter_sentences([str(path)], raw=True))
    theirs = [s for s in LineSentence(str(path)) if s]
    assert ours == theirs
    assert [len(s) for s in ours] == [3, 10_000, 10_000, 5_000, 4]


def test_compressed_files_and_folders(tmp_path):
    text = "Alpha beta, gamma.\nDelta!\n"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text(text)
    with gzip.open(tmp_path / "d" / "b.txt.gz", "wt") as f:
        f.write(text)
    (tmp_path / "d" / "sub").mkdir()
    (tmp_path / "d" / "sub" / "c.txt.bz2").write_bytes(bz2.compress(text.encode()))
    (tmp_path / "d" / "ignored.csv").write_text("x,y\n")
    files = w2v_corpus.corpus_files(str(tmp_path / "d"))
    assert [Path(f).name for f in files] == ["a.txt", "b.txt.gz", "c.txt.bz2"]
    assert list(w2v_corpus.iter_sentences(files)) == [["alpha", "beta", "gamma"], ["delta"]] * 3


# --------------------------------------------------------------------------- gensim as the oracle


@pytest.mark.parametrize("stream", [False, True], ids=["corpus_file", "iterable"])
@pytest.mark.parametrize("model", ["cbow", "skipgram"])
def test_vectors_equal_gensims_own(lee_tokens, model, stream):
    """One worker, same seed: our run trains the very vectors gensim trains on the same tokens."""
    cfg = Word2VecConfig(
        model=model,
        corpus=lee_tokens,
        raw=True,
        size=16,
        epochs=2,
        workers=1,
        seed=7,
        stream=stream,
        neighbours=0,
    )
    result = train_word2vec(cfg)
    kw = dict(  # noqa: C408 (gensim's keyword names, as a user writes them)
        vector_size=16,
        window=5,
        min_count=5,
        sg=int(model == "skipgram"),
        negative=5,
        workers=1,
        seed=7,
        epochs=2,
    )
    if stream:
        ref = Word2Vec(LineSentence(lee_tokens), **kw)
    else:
        ref = Word2Vec(corpus_file=lee_tokens, **kw)
    wv = result.vectors
    assert wv.index_to_key == ref.wv.index_to_key
    np.testing.assert_array_equal(wv.vectors, ref.wv.vectors)
    assert result.vocab_size == len(ref.wv)
    assert result.corpus_words == ref.corpus_total_words


def test_loss_equals_gensims_with_one_worker(lee_tokens):
    """gensim's running loss is exact with one worker and one epoch; ours must agree with it."""
    reports = []
    cfg = Word2VecConfig(
        model="skipgram",
        corpus=lee_tokens,
        raw=True,
        size=16,
        epochs=1,
        workers=1,
        stream=True,
        neighbours=0,
        compute_loss=True,
    )
    train_word2vec(cfg, on_epoch=reports.append)
    ref = Word2Vec(
        LineSentence(lee_tokens), vector_size=16, sg=1, workers=1, epochs=1, compute_loss=True
    )
    ours_total = reports[0].loss * reports[0].trained_words
    assert ours_total == pytest.approx(ref.get_latest_training_loss(), rel=2e-3)


def test_epochs_and_progress_within_epochs(lee_tokens):
    for stream in (False, True):
        events, epochs = [], []
        cfg = Word2VecConfig(
            model="skipgram",
            corpus=lee_tokens,
            raw=True,
            size=48,
            epochs=3,
            workers=1,
            stream=stream,
            neighbours=0,
            compute_loss=True,
            progress_interval=0.002,
        )
        result = train_word2vec(cfg, on_progress=events.append, on_epoch=epochs.append)
        assert [e.epoch for e in epochs] == [1, 2, 3]
        assert all(e.words > 0 and e.loss is not None and e.loss > 0 for e in epochs)
        assert epochs[-1].learning_rate == pytest.approx(cfg.min_alpha)
        inside = [p for p in events if 0 < p.words_done < p.epoch_words]
        assert inside, f"no progress inside an epoch (stream={stream})"
        rates = [p.learning_rate for p in events]
        assert rates == sorted(rates, reverse=True)  # alpha only falls
        assert result.losses == [e.loss for e in epochs]


def test_seed_and_one_worker_reproduce_across_hash_seeds(tmp_path):
    """Same --seed, --workers 1: byte-identical vectors, whatever PYTHONHASHSEED is."""
    outs = []
    for i, hashseed in enumerate(["1", "12345"]):
        out = tmp_path / f"v{i}.txt"
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "dlcli",
                "word2vec",
                "cbow",
                LEE,
                *FAST,
                "--seed",
                "3",
                "--out",
                str(out),
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["out"] == str(out)
        outs.append(out.read_bytes())
        assert len(proc.stderr.strip().splitlines()) == 2  # one line per epoch, not a TTY
    assert outs[0] == outs[1]


# --------------------------------------------------------------------------- CLI: training


def test_train_json_and_saved_formats(tmp_path):
    for suffix, binary in ((".txt", False), (".vec", False), (".bin", True)):
        out = tmp_path / f"lee{suffix}"
        result = run(["word2vec", "skipgram", LEE, *FAST, "--out", str(out), "--json"])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert {"vocab_size", "dim", "corpus_words", "seconds", "words_per_second", "out"} <= set(
            doc
        )
        assert doc["dim"] == 16 and doc["out"] == str(out) and doc["mode"] == "corpus_file"
        wv = KeyedVectors.load_word2vec_format(str(out), binary=binary)
        assert len(wv) == doc["vocab_size"] and wv.vector_size == 16
    assert sorted(os.listdir(tmp_path)) == ["lee.bin", "lee.txt", "lee.vec"]  # no temp files


def test_train_table_shows_neighbours_and_stdin(tmp_path):
    text = Path(LEE).read_text()
    result = run(
        ["word2vec", "cbow", "-", "--size", "16", "--epochs", "1", "--workers", "1", "--stream"],
        input=text,
    )
    assert result.exit_code == 0, result.output
    assert "nearest neighbours" in result.stdout and "not saved" in result.stdout
    assert "iterable mode" in result.stdout
    assert "epoch 1/1" in result.stderr


def test_hs_and_raw_options(tmp_path):
    result = run(["word2vec", "cbow", LEE, *FAST, "--hs", "--raw", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["loss"] is None  # off unless asked for
    assert "loss" not in result.stderr
    result = run(["word2vec", "skipgram", LEE, *FAST, "--loss", "--json"])
    assert result.exit_code == 0, result.output
    losses = json.loads(result.stdout)["loss"]
    assert len(losses) == 2 and all(x > 0 for x in losses)
    assert f"loss {losses[1]:.4f}" in result.stderr


def test_non_utf8_corpus_warns_and_trains(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(Path(LEE).read_bytes() + "caf\xe9 na\xefve\n".encode("latin-1"))
    result = run(["word2vec", "cbow", str(path), *FAST, "--json"])
    assert result.exit_code == 0, result.output
    assert "dlcli: warning: 2 bytes of the corpus were not UTF-8" in result.stderr
    json.loads(result.stdout)


@pytest.mark.parametrize(
    ("setup", "extra", "fragment"),
    [
        (lambda p: p.write_text(""), [], "holds no words"),
        (lambda p: p.write_text(" ,.;\n\n!!\n"), [], "holds no words"),
        (lambda p: p.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" * 50), [], "binary"),
        (lambda p: p.write_text("one two three\n"), ["--min-count", "2"], "--min-count 2"),
        (lambda p: None, [], "does not exist"),
        (lambda p: p.write_text("a b\n" * 10), ["--out", "x.npy"], ".bin"),
        (lambda p: p.write_text("a b\n" * 10), ["--negative", "0"], "--hs"),
        (lambda p: p.write_text("a b\n" * 10), ["--out", "/proc/x.bin"], "cannot write in /proc"),
    ],
    ids=[
        "empty",
        "punctuation-only",
        "binary",
        "min-count",
        "missing",
        "bad-suffix",
        "no-output-layer",
        "unwritable-folder",
    ],
)
def test_bad_corpus_or_flags_exit_2_and_write_nothing(
    tmp_path, monkeypatch, setup, extra, fragment
):
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "corpus.txt"
    setup(corpus)
    out = ["--out", "v.bin"] if "--out" not in extra else []
    before = set(os.listdir(tmp_path))
    result = run(["word2vec", "cbow", str(corpus), *FAST, *out, *extra])
    assert_input_error(result, fragment)
    assert set(os.listdir(tmp_path)) == before


# --------------------------------------------------------------------------- similar, analogy


def test_similar_and_analogy_match_gensim(lee_vectors):
    wv = KeyedVectors.load_word2vec_format(lee_vectors, binary=True)
    result = run(["word2vec", "similar", lee_vectors, "police", "-n", "4", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [
        (n["word"], pytest.approx(n["similarity"], abs=1e-6)) for n in doc["neighbours"]
    ] == wv.most_similar("police", topn=4)
    result = run(["word2vec", "analogy", lee_vectors, "man", "king", "woman", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    expected = wv.most_similar(positive=["king", "woman"], negative=["man"], topn=5)
    assert [a["word"] for a in doc["answers"]] == [w for w, _ in expected]
    table = run(["word2vec", "similar", lee_vectors, "police"])
    assert table.exit_code == 0 and wv.most_similar("police", topn=1)[0][0] in table.stdout


def test_query_errors(lee_vectors, tmp_path):
    assert_input_error(
        run(["word2vec", "similar", lee_vectors, "xyzzyq"]), "'xyzzyq'", "vocabulary"
    )
    assert_input_error(run(["word2vec", "similar", lee_vectors, "Police"]), "did you mean 'police'")
    assert_input_error(run(["word2vec", "analogy", lee_vectors, "man", "king", "xyzzyq"]), "xyzzyq")
    notw2v = tmp_path / "notes.txt"
    notw2v.write_text("this is not\na vectors file\n")
    assert_input_error(run(["word2vec", "similar", str(notw2v), "a"]), "not a word2vec")
    lying = tmp_path / "lying.bin"
    lying.write_bytes(b"100000000 300\n" + b"\x00" * 100)
    assert_input_error(run(["word2vec", "similar", str(lying), "a"]), "too small")
    truncated = tmp_path / "cut.txt"
    truncated.write_text("3 2\na 0.1 0.2\nb 0.3\n")
    assert_input_error(run(["word2vec", "evaluate", str(truncated)]), "not a word2vec")
    assert_input_error(
        run(["word2vec", "similar", str(tmp_path / "none.bin"), "a"]), "no such file"
    )


# --------------------------------------------------------------------------- evaluate


def test_evaluate_equals_gensim(lee_vectors):
    result = run(["word2vec", "evaluate", lee_vectors, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    wv = KeyedVectors.load_word2vec_format(lee_vectors, binary=True)
    score, sections = wv.evaluate_word_analogies(datapath("questions-words.txt"))
    pearson, spearman, oov = wv.evaluate_word_pairs(datapath("wordsim353.tsv"))
    assert doc["analogy_accuracy"] == pytest.approx(score)
    assert doc["pairs_spearman"] == pytest.approx(spearman[0])
    assert doc["pairs_pearson"] == pytest.approx(pearson[0])
    assert doc["pairs_coverage"] == pytest.approx(1 - oov / 100)
    assert [(s["section"], s["correct"]) for s in doc["sections"]] == [
        (s["section"], len(s["correct"])) for s in sections[:-1]
    ]
    # coverage, computed independently: questions / pairs whose words are all known
    vocab = {w.upper() for w in wv.index_to_key}
    quads = [
        line.split()
        for line in Path(datapath("questions-words.txt")).read_text().splitlines()
        if not line.startswith(":")
    ]
    covered = sum(all(w.upper() in vocab for w in q) for q in quads)
    assert doc["analogy_questions"] == len(quads) == 19544
    assert doc["analogy_coverage"] == pytest.approx(covered / len(quads))
    pairs = [
        line.split("\t")
        for line in Path(datapath("wordsim353.tsv")).read_text().splitlines()
        if not line.startswith("#")
    ]
    assert doc["pairs_total"] == len(pairs)
    assert doc["pairs_evaluated"] == sum(
        a.upper() in vocab and b.upper() in vocab for a, b, _ in pairs
    )
    syn = [s for s in sections[:-1] if s["section"].startswith("gram")]
    n_syn = sum(len(s["correct"]) + len(s["incorrect"]) for s in syn)
    assert doc["syntactic_accuracy"] == pytest.approx(sum(len(s["correct"]) for s in syn) / n_syn)


def test_evaluate_custom_sets_and_table(tmp_path):
    """Hand-made vectors where the one analogy is solvable: accuracy 1, coverage 1/2."""
    vecs = tmp_path / "toy.txt"
    vecs.write_text("5 2\nman 1 0\nking 1 1\nwoman 0 1\nqueen -0.1 2\napple 5 -5\n")
    qs = tmp_path / "q.txt"
    qs.write_text(": royals\nman king woman queen\nman king woman prince\n")
    pairs = tmp_path / "p.tsv"
    pairs.write_text("# comment\nman\twoman\t5\nking\tqueen\t8\napple\tman\t1\nfoo\tbar\t2\n")
    result = run(
        ["word2vec", "evaluate", str(vecs), "--analogies", str(qs), "--pairs", str(pairs), "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["analogy_accuracy"] == 1.0 and doc["analogy_coverage"] == 0.5
    assert doc["semantic_accuracy"] == 1.0 and doc["syntactic_accuracy"] is None
    assert doc["pairs_total"] == 4 and doc["pairs_coverage"] == 0.75
    wv = KeyedVectors.load_word2vec_format(str(vecs))
    assert doc["pairs_spearman"] == pytest.approx(wv.evaluate_word_pairs(str(pairs))[1][0])
    table = run(["word2vec", "evaluate", str(vecs), "--analogies", str(qs), "--pairs", str(pairs)])
    assert table.exit_code == 0 and "royals" in table.stdout and "100.0%" in table.stdout
    bad = tmp_path / "bad.txt"
    bad.write_text("man king woman queen\n")
    assert_input_error(
        run(["word2vec", "evaluate", str(vecs), "--analogies", str(bad)]), "--analogies"
    )


# --------------------------------------------------------------------------- house rules


def test_word2vec_help_does_not_import_gensim():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dlcli", "word2vec", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    heavy = [
        line
        for line in proc.stderr.splitlines()
        if any(m in line for m in ("gensim", "numpy", "torch", "scipy"))
    ]
    assert heavy == []


def test_input_error_is_a_value_error():
    with pytest.raises(ValueError, match="--size 0"):
        Word2VecConfig(size=0)
    assert issubclass(InputError, ValueError)


# --------------------------------------------------------------------------- the library (issue 8)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> str:
    """The first ~4,000 words of Lee's corpus: enough for a vocabulary, trains in milliseconds."""
    lines, words = [], 0
    for line in Path(LEE).read_text().splitlines():
        lines.append(line)
        words += len(line.split())
        if words > 4000:
            break
    path = tmp_path_factory.mktemp("small") / "small.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


KNOBS = {"size": 16, "epochs": 2, "workers": 1, "min_count": 2, "seed": 3, "neighbours": 0}


def test_config_owns_the_defaults():
    """hs alone turns negative sampling off; the CLI's defaults are the dataclass's."""
    import click
    import typer

    from dlcli.wordvec.config import NEGATIVE

    assert Word2VecConfig().negative == NEGATIVE == 5
    assert Word2VecConfig(hs=True).negative == 0
    assert Word2VecConfig(hs=True, negative=3).negative == 3
    command = typer.main.get_command(app).commands["word2vec"].commands["skipgram"]
    defaults = {p.name: p.default for p in command.params if isinstance(p, click.Parameter)}
    names = {"loss": "compute_loss"}
    for name, default in defaults.items():
        field = names.get(name, name)
        if field == "no_lowercase":
            assert default is (not Word2VecConfig.lowercase)
        elif field in Word2VecConfig.__dataclass_fields__:
            assert default == getattr(Word2VecConfig, field), name


def test_api_and_cli_write_identical_vectors(small_corpus, tmp_path):
    """Same seed, one worker, same knobs: the library and the CLI write the same bytes."""
    import dlcli

    api_out, cli_out = tmp_path / "api.txt", tmp_path / "cli.txt"
    result = dlcli.word2vec("skipgram", small_corpus, out=api_out, **KNOBS)
    flags = ["--size", "16", "--epochs", "2", "--workers", "1", "--min-count", "2", "--seed", "3"]
    cli = run(["word2vec", "skipgram", small_corpus, *flags, "--out", str(cli_out), "--json"])
    assert cli.exit_code == 0, cli.output
    assert api_out.read_bytes() == cli_out.read_bytes()
    timing = {"seconds", "prepare_seconds", "train_seconds", "words_per_second", "out"}
    doc = json.loads(cli.stdout)
    ours = result.to_dict()
    assert {k: v for k, v in ours.items() if k not in timing} == {
        k: v for k, v in doc.items() if k not in timing
    }
    assert set(ours) == set(doc)


def test_queries_to_dict_is_their_json(lee_vectors):
    import dlcli

    for args, result in (
        (["similar", lee_vectors, "police", "-n", "3"], dlcli.similar(lee_vectors, "police", n=3)),
        (
            ["analogy", lee_vectors, "man", "king", "woman"],
            dlcli.analogy(dlcli.load_vectors(lee_vectors), "man", "king", "woman"),
        ),
    ):
        cli = run(["word2vec", *args, "--json"])
        assert cli.exit_code == 0, cli.output
        assert json.loads(cli.stdout) == json.loads(json.dumps(result.to_dict()))


def test_evaluation_json_has_no_nan(tmp_path):
    """Constant similarities give scipy a NaN correlation: the document says null."""
    import dlcli

    vecs = tmp_path / "flat.txt"
    vecs.write_text("3 2\na 1 0\nb 1 0\nc 1 0\n")
    pairs = tmp_path / "p.tsv"
    pairs.write_text("a\tb\t1\nb\tc\t2\na\tc\t3\n")
    qs = tmp_path / "q.txt"
    qs.write_text(": x\na b c d\n")
    result = dlcli.evaluate_vectors(vecs, analogies=qs, pairs=pairs)
    doc = result.to_dict()
    assert doc["pairs_spearman"] is None and doc["analogy_accuracy"] is None
    json.dumps(doc, allow_nan=False)


def test_quiet_prints_one_bare_answer(small_corpus, lee_vectors, tmp_path):
    out = tmp_path / "v.bin"
    result = run(
        ["word2vec", "cbow", small_corpus, *FAST, "--min-count", "2", "-q", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}\n" and result.stderr == ""
    result = run(["word2vec", "cbow", small_corpus, *FAST, "--min-count", "2", "-q"])
    assert result.exit_code == 0, result.output
    vocab, dim = result.stdout.split()
    assert int(vocab) > 100 and dim == "16" and result.stderr == ""
    wv = KeyedVectors.load_word2vec_format(lee_vectors, binary=True)
    result = run(["word2vec", "similar", lee_vectors, "police", "-n", "3", "-q"])
    assert result.stdout.splitlines() == [w for w, _ in wv.most_similar("police", topn=3)]
    result = run(["word2vec", "analogy", lee_vectors, "man", "king", "woman", "-n", "2", "-q"])
    assert len(result.stdout.splitlines()) == 2
    result = run(["word2vec", "evaluate", lee_vectors, "-q"])
    accuracy, spearman = result.stdout.split()
    doc = json.loads(run(["word2vec", "evaluate", lee_vectors, "--json"]).stdout)
    assert float(accuracy) == pytest.approx(doc["analogy_accuracy"], rel=1e-5)
    assert float(spearman) == pytest.approx(doc["pairs_spearman"], rel=1e-5)


def test_vectors_get_the_umask_mode(small_corpus, tmp_path):
    import dlcli

    old = os.umask(0o022)
    try:
        for name in ("v.txt", "v.bin"):
            dlcli.word2vec("cbow", small_corpus, out=tmp_path / name, **KNOBS)
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_untested_gensim_falls_back_to_plain_training(small_corpus, monkeypatch):
    """Any gensim but 4.3-4.4: one warning, plain gensim training, the same vectors."""
    import gensim

    from dlcli.wordvec import tracking

    ref = train_word2vec(Word2VecConfig(corpus=small_corpus, **KNOBS)).vectors.vectors
    monkeypatch.setattr(gensim, "__version__", "4.5.0")
    for stream in (False, True):
        warnings, epochs, events = [], [], []
        cfg = Word2VecConfig(
            corpus=small_corpus, stream=stream, compute_loss=True, progress_interval=0.001, **KNOBS
        )
        result = train_word2vec(
            cfg, on_warning=warnings.append, on_epoch=epochs.append, on_progress=events.append
        )
        assert len(warnings) == 1 and warnings[0].startswith("gensim 4.5.0 is newer"), warnings
        assert "tested 4.3-4.4" in warnings[0]
        assert [e.loss for e in epochs] == [None, None] and result.to_dict()["loss"] is None
        assert all(0 <= p.words_done <= p.epoch_words for p in events)
        if not stream:
            np.testing.assert_array_equal(result.vectors.vectors, ref)
    monkeypatch.setattr(gensim, "__version__", "4.4.0")
    assert tracking.unsupported_reason() is None
    monkeypatch.delattr(Word2Vec, "_do_train_job")
    assert "_do_train_job" in tracking.unsupported_reason()


def test_progress_without_proc_self_io(lee_tokens, monkeypatch):
    """corpus_file mode where /proc/self/io is missing: epochs still report, progress estimated
    from the previous epoch's time (none in the first)."""
    from dlcli.wordvec import train as train_module

    monkeypatch.setattr(train_module, "read_bytes_counter", lambda: None)
    events, epochs = [], []
    cfg = Word2VecConfig(
        corpus=lee_tokens, raw=True, size=48, epochs=3, workers=1, neighbours=0,
        progress_interval=0.002,
    )  # fmt: skip
    train_word2vec(cfg, on_progress=events.append, on_epoch=epochs.append)
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert all(p.epoch >= 2 and p.words_done < p.epoch_words for p in events)


def test_importing_is_free_of_side_effects_and_heavy_modules():
    """`import dlcli` and the word2vec library's names load no torch, numpy or gensim, and
    register no codecs error handler."""
    code = (
        "import codecs, sys, dlcli\n"
        "assert callable(dlcli.word2vec) and callable(dlcli.evaluate_vectors)\n"
        "import dlcli.wordvec.corpus, dlcli.wordvec.train, dlcli.wordvec.vectors\n"
        "heavy = [m for m in ('torch', 'numpy', 'gensim', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "try:\n"
        "    codecs.lookup_error('dlcli.replace')\n"
        "    raise SystemExit('registered at import')\n"
        "except LookupError:\n"
        "    pass\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_word2vec_vectors_cover_lstm_words(tmp_path):
    """One tokeniser: vectors trained by `dlcli word2vec` cover "don't" and "well-known" as
    `train lstm --embeddings` tokenises them."""
    texts = [
        ("I don't like this well-known film, don't watch it", "neg"),
        ("a well-known classic, I like it a lot", "pos"),
        ("don't miss this one, a classic", "pos"),
        ("the film is well-known and I don't care", "neg"),
    ] * 6
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(t for t, _ in texts) + "\n")
    vectors = tmp_path / "v.txt"
    cli = run(["word2vec", "skipgram", str(corpus), "--size", "8", "--epochs", "1",
               "--min-count", "1", "--workers", "1", "-q", "--out", str(vectors)])  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert {"don't", "well-known"} <= set(
        KeyedVectors.load_word2vec_format(str(vectors)).key_to_index
    )
    data = tmp_path / "texts.csv"
    data.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in texts))
    result = run(["train", "lstm", "--data", str(data), "--embeddings", str(vectors),
                  "--epochs", "1", "--threads", "1", "--hidden-size", "4", "--json",
                  "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 0, result.output
    coverage = json.loads(result.stdout)["data_info"]["embedding_coverage"]
    vocab = json.loads((tmp_path / "run" / "config.json").read_text())["model_config"]["vocab"]
    assert {"don't", "well-known"} <= set(vocab)
    assert coverage["words"] == coverage["vocab"] == len(vocab) - 2


def test_degenerate_vectors_and_evaluation_files_are_handled(tmp_path):
    """A zero vector gives null similarities with one warning (no numpy noise); evaluation files
    with nothing to evaluate and absurd sizes are input errors (exit 2), not crashes."""
    from conftest import assert_input_error

    vectors = tmp_path / "zero.txt"
    vectors.write_text("2 3\na 0 0 0\nb 0 0 0\n")
    result = CliRunner().invoke(app, ["word2vec", "similar", str(vectors), "a", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["neighbours"][0]["similarity"] is None
    assert result.stderr.count("\n") == 1 and "undefined" in result.stderr
    assert "RuntimeWarning" not in result.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    for flag in ("--analogies", "--pairs"):
        invoked = CliRunner().invoke(app, ["word2vec", "evaluate", str(vectors), flag, str(empty)])
        assert_input_error(invoked, flag, "holds no")
    for flag in ("--size", "--window", "--epochs", "--workers"):
        invoked = CliRunner().invoke(app, ["word2vec", "cbow", flag, str(10**30)])
        assert_input_error(invoked, flag)


# --------------------------------------------------------------------------- parallel tokenising


def _edge_text(seed: int) -> bytes:
    """Text with every edge the cuts between parts could break: long lines (several READ_CHUNK
    pieces and MAX_SENTENCE chunks), CRLF and lone CR line ends, bytes that are not UTF-8 (one
    truncated sequence just before a line end), multi-byte UTF-8 everywhere (so that some cut
    offset lands inside one), empty and punctuation-only lines, Greek final sigma, no final
    newline."""
    words = ["naïve", "Æsop’s", "don't", "well-known", "ΟΔΟΣ", "日本語", "x", "LORD"]
    lines = []
    for i in range(400):
        n = (i * 7 + seed) % 23
        lines.append(" ".join(words[(i + k) % len(words)] for k in range(n)).encode())
        if i % 37 == 5:
            lines.append(b"")
        if i % 41 == 3:
            lines.append(b" ,.;!!")
        if i % 53 == 7:
            lines.append("caf\xe9 na\xefve".encode("latin-1") + b" \xe2\x82")
        if i % 97 == 11:  # 25,000 words: three sentences, pieces cut at READ_CHUNK
            lines.append(" ".join(f"w{k % 997}" for k in range(25_000)).encode())
        if i % 89 == 13:
            lines.append(b"cr\r\xc3\xa9t\xc3\xa9 only\r")
    text = b"\n".join(lines)
    text = text.replace(b"x x", b"x\r\nx")  # some CRLF line ends
    return text + b" last line, no newline"


def _prepared(corpus: str, workers: int, tmp_path: Path, **knobs) -> tuple:
    folder = tmp_path / f"w{workers}-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    cfg = Word2VecConfig(corpus=corpus, workers=workers, min_count=1, **knobs)
    pc = w2v_corpus.prepare_corpus(cfg, str(folder))
    assert sorted(p.name for p in folder.iterdir()) == ["corpus.txt"]  # no part left behind
    data = Path(pc.path).read_bytes()
    return data, list(pc.counts.items()), pc.words, pc.sentences, pc.bytes, pc.replaced


@pytest.fixture(scope="module")
def edge_corpus(tmp_path_factory) -> Path:
    """A folder: a plain file, the same gzipped, another plain file, a bz2 one."""
    folder = tmp_path_factory.mktemp("edges") / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_bytes(_edge_text(1))
    (folder / "b.txt.gz").write_bytes(gzip.compress(_edge_text(2)))
    (folder / "c.txt").write_bytes(b"\n\nshort file\r\n")
    (folder / "d.txt.bz2").write_bytes(bz2.compress(_edge_text(3)))
    return folder


@pytest.fixture
def small_parts(monkeypatch):
    """Cut the inputs into many tiny parts, so that a small test corpus crosses every edge."""
    from dlcli.wordvec import parallel, parts

    monkeypatch.setattr(tokenise, "READ_CHUNK", 1000)  # the workers are told the parent's
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parts, "RANGE_MIN", 997)  # odd sizes: cuts land anywhere
    monkeypatch.setattr(parts, "RANGE_MAX", 997)
    monkeypatch.setattr(parts, "STREAM_BLOCK", 251)
    monkeypatch.setattr(parts, "SPOOL_LINE", 5000)  # the 25,000-word lines are spooled
    return parallel


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("which", ["folder", "a.txt", "b.txt.gz", "d.txt.bz2"])
def test_parallel_tokenising_is_byte_identical(edge_corpus, tmp_path, small_parts, which, workers):
    """Working file bytes, counts in first-seen order, words, sentences, replaced bytes: the
    same from 2 and 3 worker processes as from one."""
    corpus = str(edge_corpus if which == "folder" else edge_corpus / which)
    one = _prepared(corpus, 1, tmp_path)
    assert one[3] > 300 and one[5] > 0  # sentences, replaced bytes: the edges are there
    assert max(len(line.split()) for line in one[0].splitlines()) == 10_000
    assert _prepared(corpus, workers, tmp_path) == one
    assert _prepared(corpus, workers, tmp_path, raw=True, lowercase=False) == _prepared(
        corpus, 1, tmp_path, raw=True, lowercase=False
    )


def test_parallel_tokenising_stdin(edge_corpus, tmp_path, small_parts, monkeypatch):
    """stdin is read in blocks here and tokenised by the workers, with the same result."""
    import io as _io

    data = _edge_text(4)

    class Stdin:
        def __init__(self):
            self.buffer = _io.BufferedReader(_io.BytesIO(data))

        def isatty(self):
            return False

    results = []
    for workers in (1, 2, 3):
        monkeypatch.setattr(sys, "stdin", Stdin())
        results.append(_prepared("-", workers, tmp_path))
    assert results[0] == results[1] == results[2]
    path = tmp_path / "stdin.txt"
    path.write_bytes(data)
    assert _prepared(str(path), 1, tmp_path) == results[0]


def test_parallel_tokenising_real_sizes(tmp_path):
    """Default part sizes on 8 MB of the sample corpus with a 3-MiB line (several READ_CHUNK
    pieces) in the middle: plain and gzipped, 2 workers, the same as one."""
    text = gzip.decompress(w2v_corpus.SAMPLE_CORPUS.read_bytes())
    long_line = " ".join(f"Wörd{i % 1009}" for i in range(400_000)).encode()
    path = tmp_path / "big.txt"
    path.write_bytes(text + long_line + b"\r\n" + text)
    gz = tmp_path / "big.txt.gz"
    gz.write_bytes(gzip.compress(path.read_bytes(), compresslevel=1))
    one = _prepared(str(path), 1, tmp_path)
    assert _prepared(str(path), 2, tmp_path) == one
    assert _prepared(str(gz), 2, tmp_path) == one


def test_parallel_worker_failure_ends_all_cleanly(tmp_path, small_parts):
    """A worker that cannot write its part: one error, every worker gone, no part files left."""
    import multiprocessing

    from dlcli.errors import RunFailure

    corpus = tmp_path / "c.txt"
    corpus.write_bytes(_edge_text(5))
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "corpus.txt.part-3").mkdir()  # the worker's part file cannot be opened
    cfg = Word2VecConfig(corpus=str(corpus), workers=2, min_count=1)
    with pytest.raises(RunFailure, match="cannot write .*corpus.txt.part-3"):
        w2v_corpus.prepare_corpus(cfg, str(folder))
    assert multiprocessing.active_children() == []
    assert sorted(p.name for p in folder.iterdir()) == ["corpus.txt", "corpus.txt.part-3"]


def _wait_exit(pid: int, limit: float) -> None:
    """Return when process `pid` has ended (at once if it has), or after `limit` seconds."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [], limit)
    finally:
        os.close(fd)


def _running(pid: int) -> bool:
    """Process `pid` exists and has not ended (a zombie, ended but not yet reaped, has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_parallel_ctrl_c_ends_every_process_with_one_line(tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while the workers
    tokenise: exit 130, one line, no traceback, no process and no file left behind."""
    import signal
    import time

    text = gzip.decompress(w2v_corpus.SAMPLE_CORPUS.read_bytes())
    corpus = tmp_path / "big.txt"
    corpus.write_bytes(text * 12)  # 50 MB: seconds of tokenising
    work = tmp_path / "tmp"
    work.mkdir()
    env = {**os.environ, "TMPDIR": str(work)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlcli", "word2vec", "cbow", str(corpus), "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip

    def children() -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == proc.pid and int(fields[2]) == proc.pid:  # ppid, pgid
                found.append(int(stat.parent.name))
        return found

    def tokenising() -> bool:  # a worker has written into its part file of the working folder
        return any(p.stat().st_size > 0 for p in work.glob("dlcli-w2v-*/corpus.txt.*-*"))

    # events, not sleeps: wait (at most 60 s, against a hang) until the workers tokenise
    deadline = time.monotonic() + 60
    while not (len(children()) >= 2 and tokenising()) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = children()
    assert tokenising()
    assert len(pids) >= 2
    names = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids}
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["dlcli: error: interrupted"], err
    for pid in pids:  # each worker's exit, as the kernel reports it (pidfd), not a guess
        _wait_exit(pid, 60)
    assert not [names[pid] for pid in pids if _running(pid)]
    assert list(work.iterdir()) == []


def test_train_options_are_generated_from_the_config():
    """cbow/skipgram's options are Word2VecConfig's fields: same defaults, same help text, one
    flag each (negated ones turn the field off), nothing hand-written beside them."""
    import dataclasses

    import typer.main

    from dlcli.cli.word2vec import word2vec_app

    command = typer.main.get_command(word2vec_app).commands["cbow"]
    params = {p.name: p for p in command.params}
    for f in dataclasses.fields(Word2VecConfig):
        if not f.metadata.get("cli", True):
            assert f.name not in params
            continue
        negate = f.metadata.get("negate", False)
        name = f.metadata["flag"][2:].replace("-", "_") if negate else f.name
        param = params.pop(name)
        assert param.default == ((not f.default) if negate else f.default), f.name
        assert param.help == f.metadata["help"], f.name
        if not f.metadata.get("argument"):
            flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
            assert flag in param.opts, (f.name, param.opts)
    assert sorted(params) == ["json_out", "quiet", "verbose"]

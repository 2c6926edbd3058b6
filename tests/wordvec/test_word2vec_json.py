"""`word2vec similar|analogy --json` keep gensim's numbers at full precision (the tables round)."""

from __future__ import annotations

import json

from conftest import cli


def test_similar_and_analogy_json_are_gensims_numbers_unrounded(tmp_path):
    from gensim.models import KeyedVectors

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the king and the queen rule the land of the people\n" * 200)
    vectors = tmp_path / "v.txt"
    args = ["--size", "8", "--min-count", "1", "--workers", "1", "--epochs", "1"]
    assert cli("word2vec", "cbow", corpus, *args, "--out", vectors).exit_code == 0
    oracle = KeyedVectors.load_word2vec_format(str(vectors))

    proc = cli("word2vec", "similar", vectors, "king", "-n", "3", "--json")
    assert proc.exit_code == 0, proc.output
    got = [(n["word"], n["similarity"]) for n in json.loads(proc.stdout)["neighbours"]]
    assert got == [(w, float(s)) for w, s in oracle.most_similar("king", topn=3)]
    assert any(len(repr(s)) > 8 for _, s in got)  # not rounded to the table's 2 or 4 digits

    proc = cli("word2vec", "analogy", vectors, "the", "king", "queen", "--json")
    assert proc.exit_code == 0, proc.output
    document = json.loads(proc.stdout)
    answers = next(v for v in document.values() if isinstance(v, list))
    want = oracle.most_similar(positive=["king", "queen"], negative=["the"], topn=len(answers))
    assert [(a["word"], a["similarity"]) for a in answers] == [(w, float(s)) for w, s in want]

"""`dlcli train lstm`: recurrent classifiers, packed sequences, text data and word vectors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, assert_input_error
from conftest import cli as invoke

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from dlcli.errors import InputError  # noqa: E402
from dlcli.training.data.text import (  # noqa: E402
    Vocabulary,
    embedding_table,
    encode,
    read_text_csv,
    read_word2vec,
    tokenize,
)
from dlcli.training.engine import device  # noqa: E402
from dlcli.training.families.lstm import RecurrentConfig, build_recurrent  # noqa: E402

# --- the model ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_batch_equals_each_sequence_alone(cell, bidirectional):
    """Padding never enters the computation: a padded batch gives each sequence's own logits."""
    torch.manual_seed(0)
    config = RecurrentConfig(
        cell=cell,
        hidden_size=8,
        num_layers=2,
        bidirectional=bidirectional,
        embedding_dim=5,
        vocab=("<pad>", "<unk>", *map(str, range(2, 20))),
    )
    model = build_recurrent(config, (5,), 3).eval()
    seqs = [[3, 4, 5, 6, 7], [8, 2], [9, 10, 11]]
    batch = torch.tensor(
        encode(
            [[str(i) for i in s] for s in seqs],
            Vocabulary(["<pad>", "<unk>", *map(str, range(2, 20))]),
        )
    )
    assert batch.shape == (3, 5) and int(batch[1, 2]) == 0
    with torch.no_grad():
        together = model(batch)
        alone = torch.cat([model(torch.tensor([s])) for s in seqs])
    torch.testing.assert_close(together, alone)


def test_lstm_matches_torch_lstm_final_state():
    """Oracle: the classifier is nn.LSTM's final hidden state through a linear layer."""
    torch.manual_seed(0)
    model = build_recurrent(RecurrentConfig(hidden_size=6, bidirectional=False), (7, 3), 4).eval()
    x = torch.randn(5, 7, 3)
    with torch.no_grad():
        _, (h, _) = model.rnn(x)
        expected = model.fc(h[-1])
        torch.testing.assert_close(model(x), expected)
    # Forget-gate bias starts at 1 (PyTorch gate order: input, forget, cell, output).
    assert torch.all(model.rnn.bias_ih_l0[6:12] == 1.0)


def test_frozen_embeddings_do_not_train():
    config = RecurrentConfig(
        embedding_dim=4, embeddings="v.txt", freeze_embeddings=True, vocab=tuple("abcdefghij")
    )
    model = build_recurrent(config, (3,), 2)
    table = torch.arange(40, dtype=torch.float32).view(10, 4)
    model.load_embeddings(table)
    loss = model(torch.tensor([[2, 3, 0]])).sum()
    loss.backward()
    assert model.embedding.weight.grad is None
    assert torch.equal(model.embedding.weight, table)


@pytest.mark.parametrize(
    ("field", "value"), [("cell", "tree"), ("hidden_size", 0), ("dropout", 1.0), ("num_layers", 0)]
)
def test_bad_knobs_are_input_errors(field, value):
    with pytest.raises(InputError):
        RecurrentConfig(**{field: value})


def test_lstm_remembers_over_50_steps_where_a_plain_rnn_forgets():
    """The lesson's point: the gated cell state carries what a tanh RNN loses over 49 noisy steps.

    Same data, net size, optimiser and budget for both cells; tests/bench/bench_long_memory.py
    repeats this over several seeds through the CLI.
    """
    from dlcli.training.sequences import first_symbol_task

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest and deterministic
    xtr, ytr = map(torch.from_numpy, first_symbol_task(2000, 50, 4, seed=0))
    xte, yte = map(torch.from_numpy, first_symbol_task(500, 50, 4, seed=1))
    accuracy = {}
    for cell in ("lstm", "rnn"):
        torch.manual_seed(1)
        model = build_recurrent(
            RecurrentConfig(cell=cell, hidden_size=32, bidirectional=False), (50, 5), 4
        )
        opt = torch.optim.Adam(model.parameters(), 3e-3)
        for _ in range(12):
            model.train()
            perm = torch.randperm(len(xtr))
            for i in range(0, len(xtr), 64):
                idx = perm[i : i + 64]
                loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            accuracy[cell] = (model(xte).argmax(1) == yte).float().mean().item()
    torch.set_num_threads(threads)
    assert accuracy["lstm"] > 0.9, accuracy
    assert accuracy["rnn"] < 0.5, accuracy  # chance is 0.25


# --- text ---------------------------------------------------------------------------------------


def test_tokenize():
    """dlcli.tokens, the tokeniser `dlcli word2vec` uses too: words only, punctuation dropped."""
    assert tokenize("This isn't GOOD!  Ça va?") == ["this", "isn't", "good", "ça", "va"]
    assert tokenize("a well-known film, don’t miss") == ["a", "well-known", "film", "don’t", "miss"]
    assert tokenize("   ") == [] and tokenize("?!") == []


def test_vocabulary_min_count_and_unknown():
    vocab = Vocabulary.build([["a", "b", "a"], ["c", "a", "b"]], min_count=2)
    assert vocab.words == ["<pad>", "<unk>", "a", "b"]
    assert vocab.ids(["a", "c", "b"]) == [2, 1, 3]
    ids = encode([["a"], ["b", "a", "zz"]], vocab)
    assert ids.tolist() == [[2, 0, 0], [3, 2, 1]]
    assert encode([["a", "b", "a"]], vocab, max_length=2).tolist() == [[2, 3]]


def _write(tmp_path, name, content: bytes | str):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_read_text_csv_warns_and_skips(tmp_path):
    path = _write(
        tmp_path, "t.csv", 'id,text,label\n1,"good, very good",pos\n2,  ,neg\n3,bad,neg\n'
    )
    table = read_text_csv(path)
    assert table.texts == ["good, very good", "bad"] and table.labels == ["pos", "neg"]
    assert any("ignoring column id" in w for w in table.warnings)
    assert any("skipped 1 row(s) with empty text (line 3)" in w for w in table.warnings)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"text,label\n", "no rows with text"),
        (b"text,label\nhello,a\nworld,a\n", "at least 2 classes"),
        (b"body,label\nhello,a\n", "no column 'text'"),
        (b"text,label\ncaf\xe9,a\n", "line 2: byte 0xe9"),
        (b"text,label\nhello,a,extra\n", "line 2: 3 fields"),
    ],
)
def test_read_text_csv_bad_data(tmp_path, content, message):
    with pytest.raises(InputError, match=message):
        read_text_csv(_write(tmp_path, "bad.csv", content))


# --- word2vec files: gensim writes them (the oracle), our reader reads them ---------------------


@pytest.mark.parametrize("binary", [False, True])
def test_read_word2vec_matches_gensim(tmp_path, binary):
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(0)
    kv = KeyedVectors(vector_size=7)
    words = ["good", "bad", "Ça", "movie", "</s>"]
    kv.add_vectors(words, rng.normal(size=(5, 7)).astype(np.float32))
    path = tmp_path / ("v.bin" if binary else "v.txt")
    kv.save_word2vec_format(str(path), binary=binary)
    got_words, got = read_word2vec(path)
    assert got_words == words
    np.testing.assert_allclose(got, kv.vectors, rtol=0, atol=1e-6 if not binary else 0)


def test_read_glove_without_header(tmp_path):
    words, vectors = read_word2vec(_write(tmp_path, "g.txt", "a 1 2\nb 3 4\n"))
    assert words == ["a", "b"] and vectors.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("content", [b"2 3\na 1 2 3\n", b"1 3\na 1 x 3\n", b"5 3\nab", b"hello\n"])
def test_read_word2vec_bad_files(tmp_path, content):
    with pytest.raises(InputError, match="--embeddings"):
        read_word2vec(_write(tmp_path, "bad.vec", content))


def test_embedding_table_coverage():
    from collections import Counter

    vocab = Vocabulary(["<pad>", "<unk>", "good", "bad", "meh"])
    vectors = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    counts = Counter({"good": 3, "bad": 1, "meh": 1, "<unk>": 5})
    table, coverage = embedding_table(vocab, ["Good", "bad"], vectors, seed=0, token_counts=counts)
    assert table[0].tolist() == [0, 0]
    assert table[2].tolist() == [1, 2] and table[3].tolist() == [3, 4]  # 'good' via lower case
    assert np.abs(table[4]).max() < 1.0  # small random vector
    assert (coverage.words, coverage.vocab) == (2, 3)
    assert coverage.tokens == pytest.approx(4 / 10)


# --- the CLI, on the shared engine ----------------------------------------------------------------

REVIEWS = ROOT / "sample_data" / "reviews.csv"
FAST = ("--hidden-size", "16", "--threads", "1", "--json")


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A 2-epoch LSTM on the sample reviews: (run folder, --json document)."""
    out = tmp_path_factory.mktemp("runs") / "reviews"
    result = invoke("train", "lstm", "--data", REVIEWS, "--epochs", "2", *FAST, "--out", out)
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_train_lstm_on_text_saves_the_vocabulary(text_run):
    out, doc = text_run
    assert doc["model"] == "lstm" and doc["classes"] == ["negative", "positive"]
    assert doc["n_train"] + doc["n_val"] + doc["n_test"] == 2400
    config = json.loads((out / "config.json").read_text())
    vocab = config["model_config"]["vocab"]
    assert vocab[:2] == ["<pad>", "<unk>"] and "not" in vocab and "good" in vocab
    assert doc["data_info"]["vocab_size"] == len(vocab)
    assert config["standardize"] is None  # token ids are not standardised


def test_evaluate_text_run_reproduces_and_predict_reads_text(text_run, tmp_path):
    out, doc = text_run
    result = invoke("evaluate", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accuracy"] == doc["test_accuracy"]
    # evaluate --data on a text CSV with labels (words never seen become <unk>)
    labelled = tmp_path / "more.csv"
    labelled.write_text("text,label\nthe zorblax was great,positive\nawful film,negative\n")
    result = invoke("evaluate", out, "--data", labelled, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 2
    # predict: a .txt file (one text per line) and a CSV with only a text column
    lines = tmp_path / "new.txt"
    lines.write_text("the plot was not good\n\ni loved the film , it was wonderful !\n")
    texts = tmp_path / "new.csv"
    texts.write_text("text\nthe acting was dull\n")
    result = invoke("predict", out, lines, texts, "--json")
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)["predictions"]
    assert [p["input"] for p in predictions] == [f"{lines}:1", f"{lines}:2", f"{texts}:1"]
    assert all(p["class"] in ("negative", "positive") for p in predictions)


def test_train_lstm_on_digits_as_rows_and_evaluate(tmp_path):
    out = tmp_path / "digits"
    result = invoke("train", "lstm", "--epochs", "1", "--unidirectional", *FAST, "--out", out)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    config = json.loads((out / "config.json").read_text())
    assert config["input_shape"] == [8, 8] and config["layout"] == "sequence"
    # 4 gates x (input 8 + hidden 16 + 2 biases) x 16 units, then the linear layer 16 -> 10
    assert doc["params"] == 4 * 16 * (8 + 16 + 2) + 16 * 10 + 10
    result = invoke("evaluate", out, "--json")
    assert json.loads(result.stdout)["accuracy"] == doc["test_accuracy"]


def test_train_gru_on_a_csv_time_series(tmp_path):
    """One sequence per row, one value per step: a rising vs a falling series."""
    rng = np.random.default_rng(0)
    rows = [",".join([f"t{i}" for i in range(12)] + ["label"])]
    for k in range(60):
        trend = np.linspace(0, 1, 12) * (1 if k % 2 else -1) + rng.normal(0, 0.1, 12)
        rows.append(",".join(f"{v:.3f}" for v in trend) + ("," + ("up" if k % 2 else "down")))
    (tmp_path / "series.csv").write_text("\n".join(rows) + "\n")
    result = invoke(
        "train",
        "lstm",
        "--cell",
        "gru",
        "--data",
        tmp_path / "series.csv",
        "--epochs",
        "2",
        *FAST,
        "--out",
        tmp_path / "run",
    )
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["input_shape"] == [12, 1] and config["model_config"]["cell"] == "gru"


@pytest.mark.parametrize("binary", [False, True])
def test_embeddings_initialise_and_freeze_the_table(tmp_path, binary):
    from gensim.models import KeyedVectors
    from safetensors.torch import load_file

    rng = np.random.default_rng(1)
    kv = KeyedVectors(vector_size=6)
    known = ["good", "bad", "not", "the", "film", "NotInTheData"]
    kv.add_vectors(known, rng.normal(size=(len(known), 6)).astype(np.float32))
    vectors = tmp_path / ("v.bin" if binary else "v.txt")
    kv.save_word2vec_format(str(vectors), binary=binary)
    out = tmp_path / "run"
    result = invoke(
        "train",
        "lstm",
        "--data",
        REVIEWS,
        "--epochs",
        "1",
        *FAST,
        "--out",
        out,
        "--embeddings",
        vectors,
        "--freeze-embeddings",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    coverage = doc["data_info"]["embedding_coverage"]
    vocab = json.loads((out / "config.json").read_text())["model_config"]["vocab"]
    assert coverage["words"] == 5 and coverage["vocab"] == len(vocab) - 2
    assert "5 of" in result.stderr and "pretrained vector" in result.stderr
    table = load_file(out / "model.safetensors")["embedding.weight"]
    assert table.shape == (len(vocab), 6)
    for word in ("good", "not", "film"):  # frozen: still exactly the file's vectors
        np.testing.assert_array_equal(table[vocab.index(word)].numpy(), kv[word])
    assert not table[0].any()  # <pad>


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (b"text,label\ncaf\xe9 au lait,a\nnice,b\n", ["line 2", "not UTF-8"]),
        (b"text,label\nhello,a\nworld,a\n", ["at least 2 classes"]),
        (b"text,category\nhello,a\nworld,b\n", ["no column 'label'", "--target"]),
        (b"text,label\n   ,a\n,b\n", ["no rows with text"]),
    ],
)
def test_bad_text_data_is_one_line_exit_2(tmp_path, content, fragments):
    data = tmp_path / "bad.csv"
    data.write_bytes(content)
    result = invoke("train", "lstm", "--data", data, "--out", tmp_path / "run", *FAST)
    assert_input_error(result, *fragments)
    assert not (tmp_path / "run").exists()


def test_odd_text_data_warns_and_trains(tmp_path):
    data = tmp_path / "odd.csv"
    data.write_text(
        "id,text,label,source\n"
        + "".join(f"{i},{'good stuff' if i % 2 else 'bad stuff'},{i % 2},web\n" for i in range(40))
        + "40,,1,web\n"
    )
    result = invoke(
        "train",
        "lstm",
        "--data",
        data,
        "--epochs",
        "1",
        "--hidden-size",
        "8",
        "--threads",
        "1",
        "--out",
        tmp_path / "run",
    )
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "ignoring columns id, source" in result.stderr
    assert "skipped 1 row(s) with empty text (line 42)" in result.stderr


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--embeddings", "v.txt"), ["--embeddings needs text data"]),
        (("--cell", "tree"), ["--cell", "'tree' is not one of"]),
        (("--freeze-embeddings",), ["--embeddings"]),
        (("--dropout", "1.5"), ["--dropout"]),
    ],
)
def test_bad_lstm_flags(tmp_path, args, fragments):
    result = invoke("train", "lstm", *args, "--out", tmp_path / "run")
    assert_input_error(result, *fragments)


def test_missing_text_column_named_by_the_user(tmp_path):
    result = invoke(
        "train", "lstm", "--data", REVIEWS, "--text-column", "review", "--out", tmp_path / "run"
    )
    assert_input_error(result, "no column 'review'", "--text-column")


def test_missing_vectors_file(tmp_path):
    result = invoke(
        "train",
        "lstm",
        "--data",
        REVIEWS,
        "--embeddings",
        tmp_path / "nope.bin",
        "--out",
        tmp_path / "run",
    )
    assert_input_error(result, "nope.bin", "no such file")
    assert not (tmp_path / "run").exists()


def test_subprocess_train_lstm_on_text(tmp_path):
    """A real process, as a user runs it: progress on stderr, one JSON document on stdout."""
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlcli",
            "train",
            "lstm",
            "--data",
            str(REVIEWS),
            "--epochs",
            "1",
            *FAST,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["out"] == str(out)
    assert "epoch 1/1" in proc.stderr


def _readme_commands() -> list[str]:
    """Every command of the README's train-resnet-lstm section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("<!-- section:train-resnet-lstm -->")[1].split("<!-- /section")[0]
    commands = []
    for block in section.split("<!-- readme-test:train-resnet-lstm -->")[1:]:
        body = block.split("```sh\n", 1)[1].split("```", 1)[0]
        commands += [line for line in body.splitlines() if line.startswith("dlcli ")]
    return commands


def test_readme_examples_run(tmp_path, monkeypatch):
    import shlex

    commands = _readme_commands()
    assert len(commands) == 8
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(device, "default_threads", lambda: 1)  # one thread on a busy 2-core box
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    for command in commands:
        result = invoke(*shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)
    assert (tmp_path / "runs" / "reviews" / "model.safetensors").is_file()


def test_target_names_the_label_column_for_training_and_evaluate(tmp_path):
    data = tmp_path / "moods.csv"
    data.write_text(
        "text,mood\n"
        + "".join(
            f"{'so happy today' if i % 2 else 'so sad today'},{'up' if i % 2 else 'down'}\n"
            for i in range(40)
        )
    )
    out = tmp_path / "run"
    result = invoke(
        "train", "lstm", "--data", data, "--target", "mood", "--epochs", "1", *FAST, "--out", out
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["classes"] == ["down", "up"]
    result = invoke("evaluate", out, "--data", data, "--json")  # the run's --target is kept
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 40


def test_same_seed_same_text_run(tmp_path):
    """Vocabulary order, split, init and packing are deterministic: equal runs, equal numbers."""
    docs = []
    for name in ("a", "b"):
        result = invoke(
            "train",
            "lstm",
            "--data",
            REVIEWS,
            "--epochs",
            "1",
            "--max-length",
            "6",
            *FAST,
            "--out",
            tmp_path / name,
        )
        assert result.exit_code == 0, result.output
        docs.append(
            {k: v for k, v in json.loads(result.stdout).items() if k not in ("out", "seconds")}
        )
    assert docs[0] == docs[1]
    assert docs[0]["data_info"]["tokens_per_text"]["max"] == 6  # --max-length cuts

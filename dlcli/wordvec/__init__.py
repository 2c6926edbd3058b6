"""word2vec on gensim: streaming tokenisation, training with live progress, saving, querying.

    config.py    Word2VecConfig: every knob and its default (standard library only)
    corpus.py    pass 1: the inputs, the tokenising pass, the working file and its vocabulary
    parallel.py  pass 1 over `workers` processes: parts of whole lines, byte-identical output
    train.py     pass 2: train_word2vec(cfg, callbacks) -> TrainResult, gensim's public API
    tracking.py  all of gensim's internals dlcli touches (per-job loss, word counts), isolated,
                 version-checked, with a plain-gensim fallback
    vecfile.py   the one reader of word2vec vector files (numpy; also serves train lstm)
    vectors.py   save, load, similar, analogy, evaluate; the query results
    api.py       the library functions: word2vec, load_vectors, similar, analogy,
                 evaluate_vectors

Training runs in two passes and never holds the corpus in memory. Nothing here prints: progress
goes to callbacks, problems are raised as `InputError`. gensim, numpy and scipy are imported
inside functions; importing this package imports none of them.
"""

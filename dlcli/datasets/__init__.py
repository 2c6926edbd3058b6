"""The standard datasets by name: `--data mnist|fashion-mnist|cifar10|cifar100|imdb`, the
regression table `boston_housing` (`--loss mse`), and the corpus `text8` for `dlcli word2vec`.

    registry.py   names, original files, origins, the shipped SHA-256s and sizes
                  (checksums.txt) and $DLCLI_DATA_REGISTRY over them          (standard library)
    download.py   the cache ($DLCLI_DATA_DIR): download once, verify, atomic rename, sweep the
                  temporary files of killed downloads
    transfer.py   one HTTP GET (requests) capped at the registered size, with a watchdog for
                  slow or late servers ($DLCLI_DATA_TIMEOUT, _MIN_RATE, _DEADLINE)
    idx.py, cifar.py, imdb.py, text8.py, boston.py
                  one reader per original format
    api.py        list_datasets, fetch, dataset_path (`dlcli data ...`, `dlcli.fetch`, ...) and
                  the loaders the training code calls: load_images, load_texts, corpus_path

Data flow: name -> registry (files, checksums) -> download.ensure (cache, verified) -> the
format's reader (uint8 images, texts or a table, official train/test split) -> dlcli.training.data's
Dataset (with `fixed_test`, the official test set) -> the one training loop.
"""

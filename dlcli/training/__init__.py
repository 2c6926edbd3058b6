"""The training engine: data, model families, THE loop, run folders, evaluate and predict.

Modules (torch/numpy/Pillow are imported inside functions, except where noted):
    config.py      every knob and default: DataConfig, TrainConfig, one config per family
    data.py        datasets (digits, spiral, CSV, .npz, image folders), `input_kind` (the one
                   dispatcher on input types), the seeded stratified split, standardisation,
                   and `to_layout` (flat / image / sequence)
    models.py      the family registry, and the mlp and cnn builders
    resnet.py      the CIFAR ResNet family (imports torch: loaded by the registry on first use)
    recurrent.py   the LSTM / GRU / RNN family and its text hooks (imports torch, likewise)
    custom.py      the `custom` family: any nn.Module named by a REF (dlcli.modelref), its
                   layout from its config (`layout="config"`), its footprint from one meta
                   forward pass (dlcli.inspection), the model file's SHA-256 checked on rebuild
    text.py        tokeniser, vocabulary, word2vec vectors for the recurrent family
    sequences.py   synthetic sequence tasks (the long-memory lesson)
    engine/        `train(...)`, `resume(...)` (setup.py) and THE loop (`fit`, loop.py):
                   batching, metrics, precision, checkpoints, Ctrl-C; early stopping,
                   checkpointing and progress as `Callback`s (callbacks.py); data parallelism
                   behind a `Strategy` (strategy.py, distributed.py); device and threads
    runs/          the run folder: its files, written atomically through `dlcli.files`
                   (files.py), `TrainState` and the checkpoint's tensors (checkpoint.py),
                   `RunSpec`, the run's config.json, and the split it trains on (spec.py), its
                   three states, its lock and a killed writer's leftovers (state.py)
    plots.py       curves.png and boundary.png (Pillow)
    evaluate.py    `evaluate(run_dir, data)` and `predict(run_dir, inputs)` -> result dataclasses
    portable.py    `RawInputModel`: a run's network with its preprocessing, raw inputs in,
                   probabilities out (imports torch: loaded by export.py on use)
    export.py      `load_model(run)` and `export(run, format, out)`: ONNX, TorchScript, pt2

Extension points (how `train resnet` / `train lstm` plug in; these interfaces stay stable):

1. A model family = a config dataclass + a builder, registered by name::

       from dataclasses import dataclass
       from dlcli.training.models import register_model

       @dataclass
       class LSTMConfig:                      # JSON-able fields: str/int/float/bool/tuple
           hidden: int = 64
           layers: int = 1
           def __post_init__(self): ...       # validate; raise dlcli.errors.InputError

       @register_model("lstm", LSTMConfig, layout="sequence", describe=None)
       def build_lstm(config: LSTMConfig, input_shape: tuple[int, ...],
                      num_classes: int) -> nn.Module:
           ...                                # import torch inside; return a module whose
                                              # forward(x) gives class scores (N, num_classes)

   A module of a family may import torch at its top and define its nn.Module classes there
   (resnet.py, recurrent.py): nothing on the CLI's or the calculators' path imports it.

   Put the module's import path in `models.PLUGIN_MODULES` (one line) so that `evaluate` and
   `predict` find the family when they rebuild a run of it, without the CLI importing it first.
   `describe(config, input_shape, num_classes) -> [{"layer", "output", "params"}, ...]`
   (optional) gives the table the CLI prints before training.
   A family with its own kind of data (lstm: text) also passes `load_data(config, data, seed)
   -> Dataset | None` (None: the shared loaders read it; `dataset.extra["notes"]` are shown as
   warnings, `extra["info"]` lands in the result's `data_info`, and `dataset.init` goes to the
   builder as keyword arguments at train time, e.g. pretrained `embeddings`) and
   `read_inputs(config, path, sample_shape, target) -> (x, labels | None) | None` for
   `evaluate --data` and `predict`.
   Integer x (token ids) passes through `to_layout("sequence")` and is never standardised.

2. Input layout: `layout=` declares what `forward` eats; `data.to_layout` reshapes every dataset:
       "flat"      (N, F)        images are flattened
       "image"     (N, C, H, W)  needs image data (digits, image folders, .npz of (N,[C,]H,W))
       "sequence"  (N, T, F)     images row by row (T = H, F = C*W); flat data (N, F, 1)
   `input_shape` passed to the builder is the per-sample shape in that layout. Standardisation
   happens before the reshape (per feature for tables, per channel for images).

3. Rebuilding from a run folder: config.json stores `model`, `model_config`
   (`models.config_to_dict`, dataclass fields only), `input_shape`, `class_names` and the
   standardisation; `runs.spec.read_spec(run)` returns a `RunSpec` and `spec.build_model()` calls
   the registered builder with the same arguments, then the weights load from model.safetensors.
   So a config dataclass must round-trip through `config_to_dict`/`config_from_dict` (tuples
   become lists and back) and the builder must be deterministic in its config.

4. The CLI: a subcommand lists only its own knobs and returns its config dataclass;
   `training_command` (dlcli/cli/train.py) appends the shared options (`train.SHARED`, the
   aliases of dlcli/cli/options.py), with per-model defaults where a family needs them::

       @training_command("lstm", default_epochs=20, lr={"adam": 3e-3})
       def lstm(cell: CellOpt = "lstm", ...) -> LSTMConfig:
           return LSTMConfig(...)

   and hands both to `run_training`, which builds `DataConfig` + `TrainConfig`, handles
   --resume, attaches the progress callbacks (Rich bar on a TTY, one line per epoch otherwise;
   the `describe` table first) and renders the result table or the --json document.

5. Callbacks (`engine.callbacks.Callback`, Keras style): the hooks on_train_begin(info),
   on_epoch_begin(epoch, logs), on_batch_end(batch, logs), on_epoch_end(epoch, logs),
   on_train_end(logs) report progress; a hook that sets `self.stop_training = True` ends the
   run after the current epoch, which then finishes as a normal run (see `Callback`).

Everything else (batching, loss, optimizer, early stopping, checkpoints, resume, Ctrl-C, the
run folder, evaluate/predict) is shared and must not be re-implemented per family.
"""

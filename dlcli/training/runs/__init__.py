"""Run folders: every file a training run writes, its checkpoint, its config, its state.

    RUN_DIR/config.json         everything to rebuild the model and its preprocessing
                                (its schema: spec.RunSpec)
    RUN_DIR/model.safetensors   the weights (the best epoch's with --patience)
    RUN_DIR/history.csv         one row per epoch
    RUN_DIR/metrics.json        the final results (the `--json` document)
    RUN_DIR/curves.png          loss and accuracy (regression: R²) per epoch (plots.py draws
                                the pictures)
    RUN_DIR/boundary.png        decision regions, for 2-D data
    RUN_DIR/fit.png             regression on one input feature: the points and the fitted curve
    RUN_DIR/checkpoint.safetensors   what --resume needs: model, optimizer and RNG tensors, plus
                                the loop's `TrainState` as JSON in the metadata (checkpoint.py)
    RUN_DIR/checkpoint.prev.safetensors   the one before (see `checkpoint.save`)
    RUN_DIR/tensorboard/        --tensorboard: event files (engine/tensorboard.py)

The modules, each importing only those above it (no torch at module level):

    files.py       the names above, atomic writes, bounded readers of JSON, CSV and safetensors
    checkpoint.py  `TrainState` (the checkpoint's metadata), its tensors, the newest complete
                   checkpoint of a folder, saving with rotation
    spec.py        `RunSpec`: config.json, and the split a run trains on
    state.py       the folder's three states (`run_state`), its lock, a new run's folder

Each file goes through `dlcli.files.atomic_write`: a temporary name in the same folder, the
umask's mode, fsync, rename into place, so a reader (or a crash) never sees half a file. A write
that fails (a full disk) is a RunFailure naming the file and saying the run can be resumed.

At every instant a run folder is in one of three states, and `state.run_state` is the one
function that says which (train --out, resume, evaluate, predict, compare and sweep all ask it):

    NEW        "not started": no folder, an empty one, or one whose run kept nothing trained (a
               config.json alone, from a run killed or diverged before its first checkpoint);
               --out may reuse it
    RESUMABLE  a complete checkpoint and no "done" mark: `resume` trains on from it, or, when
               it has reached the run's epochs, only writes what is missing (weights, history,
               pictures, metrics)
    FINISHED   config.json's status is "done" and model.safetensors and metrics.json exist

The finish writes the weights, history, pictures and metrics first and config.json's "done"
last, so a run killed at any moment is RESUMABLE or FINISHED once it has a checkpoint. A writer
holds RUN_DIR/.dlcli.lock (`dlcli.lock`) and, under it, deletes the temporary files of a killed
writer (`state.remove_leftovers`). Readers take files only if they are regular files of a sane
size (`dlcli.files.read_regular`), and check a checkpoint's safetensors header before using it.
"""

"""The training engine: the set-up, THE loop, and what it needs, with no command line in sight.

    launcher.py     `train --nproc N`: the same command under torchrun, one line, one status
    setup.py        `train(...)` and `resume(...)`: device, strategy, data, model, run folder
    loop.py         `fit`: the epochs, read top to bottom; `train_epoch`: one pass
    finish.py       how a run ends: scored and written, interrupted, or diverged
    run.py          `Run` (what the set-up hands the loop) and `RunResult`
    distributed.py  the `DDP` strategy under torchrun; joining and leaving the process group
    strategy.py     `Strategy`: what data parallelism asks of the loop, as one process does it
    animate.py      `BoundaryAnimation`, the callback of --animate (boundary.gif)
    tensorboard.py  `TensorBoard`, the callback of --tensorboard (RUN/tensorboard/)
    grads.py        `GradNorms`, the callback of --log-grads (history.csv's grad_norm/NAME)
    callbacks.py    `Callback` (Keras style) and the loop's own: history, early stopping,
                    checkpointing; `CallbackList`, what the loop calls
    device.py       the device and torch's thread count
    precision.py    --precision and --compile
    tasks.py        classification or regression: loss, outputs, metrics, predictions
    metrics.py      losses, scores in fixed chunks, a split's loss and metrics
    batches.py      `Inputs`: how a split reaches the model

A module imports only modules below it in this list (no circles), run folders from
`dlcli.training.runs`, and torch inside its functions.
"""

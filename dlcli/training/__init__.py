"""The training engine: model families, data, the loop, run folders, sweeps, evaluate and predict.

Packages, one concern each (each one's `__init__` docstring says what it holds):
    families/  one file per model family (config dataclass, builder, footprint, help text),
               registered in one place; its docstring is the guide to adding a family
    data/      one file per input kind (built-in, named datasets, CSV, arrays, image folders,
               text), then dataset, split and preprocessing; its docstring is the guide to
               adding an input kind
    runs/      the run folder's files: config.json (the spec), checkpoint and state, the lock
    engine/    the loop, its set-up, device and the distributed strategy, metrics, batches;
               what happens around an epoch (progress, checkpoints, early stopping, history,
               TensorBoard, animation) is a Keras-style callback
    sweep/     `dlcli.sweep`: the rules of a sweep (plan.py), its runs, its worker processes

Modules above them: api.py (`dlcli.train`, `dlcli.resume`), compare.py, evaluate.py
(`evaluate`, `predict`), features.py (`features`: penultimate-layer activations), export.py and
portable.py (`load_model`; ONNX, TorchScript, pt2), plots.py (curves.png, boundary.png),
fitplot.py (fit.png: regression on one feature), refs.py (a run folder as a model REF),
sequences.py (the synthetic sequence tasks of the long-memory lesson).

Rules: torch, numpy and Pillow are imported inside functions (a family's own module may import
torch at its top: nothing on the CLI's or the calculators' path imports it); backends never
print, they report through callbacks; errors are `dlcli.errors.InputError` / `RunFailure`.
"""

"""The lessons, in the order the lesson teaches them: each a `Lesson` declaration and its claim.

Every claim is measured from the runs' own metrics.json and history.csv, the runs alike but for
the knob that varies (same data, seed and epochs). The settings were chosen so that each claim
holds with a margin on seeds 0, 1 and 2 (the narrowest, measured: neurons 0.200 against 0.15,
standardize 0.272 against 0.2, linear 0.538 against 0.6, dropout 0.34 against 0.5) and `dlcli
lesson run all` stays well within 3 minutes on a 2-core machine; tests/training/test_lesson.py
runs them all at full length. A changed declaration needs a fresh folder: the sweep refuses one
holding the old settings. Numbers followed by "ms" in a claim's text are timings (the
machine's), the others results.
"""

from __future__ import annotations

from dlcli.course.declare import OUT, Features, Lesson, Run, Train


def _f(x: float) -> str:
    return f"{x:.3f}"


def _neurons(runs: list[Run]) -> tuple[bool, str]:
    acc = [r["train_accuracy"] for r in runs]
    widths = [r.knobs["hidden"][0] for r in runs]
    rises = all(a <= b for a, b in zip(acc, acc[1:], strict=False))
    gain = acc[-1] - acc[0]
    shown = ", ".join(f"{_f(a)} ({w} units)" for a, w in zip(acc, widths, strict=True))
    ms = ", ".join(f"{1000 * r.seconds_per_epoch():.1f} ms" for r in runs)
    text = (
        f"training accuracy {shown}: {'rises' if rises else 'does not rise'} with the width, "
        f"{widths[-1]} units {_f(gain)} above {widths[0]} (claim: >= 0.15); seconds per epoch "
        f"{ms}"
    )
    return rises and gain >= 0.15, text


def _lambda(runs: list[Run]) -> tuple[bool, str]:
    low, high = runs[0], runs[-1]
    drop = low["train_accuracy"] - high["train_accuracy"]
    norms = [r["weight_norm"] for r in runs]
    falls = all(a > b for a, b in zip(norms, norms[1:], strict=False))
    text = (
        f"training accuracy {_f(low['train_accuracy'])} at λ {low.knobs['weight_decay']:g}, "
        f"{_f(high['train_accuracy'])} at λ {high.knobs['weight_decay']:g}: {_f(drop)} lower "
        f"(claim: >= 0.1); the weights' L2 norm {', '.join(f'{n:.2f}' for n in norms)}: "
        f"{'falls' if falls else 'does not fall'} as λ rises"
    )
    return drop >= 0.1 and falls, text


def _grad_ratio(run: Run) -> float:
    """The first layer's gradient norm over the last layer's, in the last epoch."""
    columns = run.columns("grad_norm/")
    return run.last(columns[0]) / run.last(columns[-1])


def _activation(runs: list[Run]) -> tuple[bool, str]:
    sigmoid, relu = runs
    rs, rr = _grad_ratio(sigmoid), _grad_ratio(relu)
    lower = relu["val_loss"] < sigmoid["val_loss"]
    text = (
        f"first/last layer gradient norm {rs:.3g} with sigmoid, {rr:.3g} with ReLU: "
        f"{rr / rs:.0f}x smaller (claim: >= 10x); validation loss {_f(sigmoid['val_loss'])} "
        f"(sigmoid), {_f(relu['val_loss'])} (ReLU): ReLU's {'lower' if lower else 'not lower'}"
    )
    return rs * 10 <= rr and lower, text


def _init(runs: list[Run]) -> tuple[bool, str]:
    default, small = runs
    chance = 1 / len(default["classes"])
    off = abs(small["test_accuracy"] - chance)
    above = default["test_accuracy"] - chance
    text = (
        f"test accuracy {_f(small['test_accuracy'])} with N(0, 0.01²) weights, {_f(off)} from "
        f"chance {chance:.3f} (claim: <= 0.05); {_f(default['test_accuracy'])} with the "
        f"default init, {_f(above)} above chance (claim: >= 0.4)"
    )
    return off <= 0.05 and above >= 0.4, text


def _gap(run: Run) -> float:
    return run["val_loss"] - run["train_loss"]


def _dropout(runs: list[Run]) -> tuple[bool, str]:
    plain, dropped = runs
    g0, g5 = _gap(plain), _gap(dropped)
    text = (
        f"validation minus training loss {_f(g0)} without dropout (claim: >= 0.3), {_f(g5)} "
        f"with dropout 0.5: {g5 / g0:.2f} of it (claim: <= 0.5)"
    )
    return g0 >= 0.3 and g5 <= g0 / 2, text


def _standardize(runs: list[Run]) -> tuple[bool, str]:
    on, off = runs
    gain = on["test_accuracy"] - off["test_accuracy"]
    text = (
        f"test accuracy {_f(on['test_accuracy'])} standardised, {_f(off['test_accuracy'])} not: "
        f"{_f(gain)} higher with it (claim: >= 0.2)"
    )
    return gain >= 0.2, text


def _linear(runs: list[Run]) -> tuple[bool, str]:
    linear, hidden = (r["train_accuracy"] for r in runs)
    text = (
        f"training accuracy {_f(linear)} with the linear score function (claim: <= 0.6), "
        f"{_f(hidden)} with one hidden layer (claim: >= 0.9)"
    )
    return linear <= 0.6 and hidden >= 0.9, text


def _loss(runs: list[Run]) -> tuple[bool, str]:
    hinge, entropy = (r["train_accuracy"] for r in runs)
    text = (
        f"training accuracy {_f(hinge)} with the hinge loss, {_f(entropy)} with cross-entropy: "
        f"{_f(abs(hinge - entropy))} apart (claim: <= 0.05)"
    )
    return abs(hinge - entropy) <= 0.05, text


def _least_squares_r2(run: Run) -> float:
    """numpy's least-squares line (`lstsq`, with an intercept) fitted on the run's own training
    split, its R² on the run's test split: what the linear score function should reach."""
    import numpy as np

    from dlcli.training.runs.spec import load_data, read_spec, run_split

    spec, _ = read_spec(run.out)
    data = load_data(spec.model, spec.model_config, spec.data, spec.train)
    split = run_split(spec, data, spec.train.seed)
    x, y = data.x.astype(np.float64), data.y.astype(np.float64)
    design = np.concatenate([x.reshape(len(x), -1), np.ones((len(x), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(design[split.train], y[split.train], rcond=None)
    test = y[split.test]
    residual = test - design[split.test] @ coef
    return float(1 - (residual**2).sum() / ((test - test.mean(axis=0)) ** 2).sum())


def _regression(runs: list[Run]) -> tuple[bool, str]:
    linear, net = runs
    line = _least_squares_r2(linear)
    apart = abs(linear["test_r2"] - line)
    text = (
        f"test R² {_f(net['test_r2'])} with {net.knobs['hidden'][0]} hidden units (claim: "
        f">= 0.95); {_f(linear['test_r2'])} with the linear score function, numpy's "
        f"least-squares line {_f(line)} on the same split: {_f(apart)} apart (claim: <= 0.01)"
    )
    return net["test_r2"] >= 0.95 and apart <= 0.01, text


def _features(runs: list[Run]) -> tuple[bool, str]:
    resnet, linear = runs
    text = (
        f"test accuracy {_f(linear['test_accuracy'])} for a linear classifier on the ResNet's "
        f"{linear['params'] // len(linear['classes']) - 1} pooled features (claim: >= 0.95); "
        f"the ResNet itself {_f(resnet['test_accuracy'])}, on the same test digits"
    )
    return linear["test_accuracy"] >= 0.95, text


SPIRAL = {"dropout": 0, "lr": 0.01}  # Adam at 0.01 on the 300 spiral points
DEEP = {"hidden": "64,64,64,64", "optimizer": "sgd"}  # four hidden layers on the digits, SGD

LESSONS: tuple[Lesson, ...] = (
    Lesson(
        "neurons",
        "3, 6 and 20 hidden units on the spiral: capacity grows with width",
        _neurons,
        "boundaries.png",
        data="spiral",
        knobs=SPIRAL,
        vary={"hidden": [3, 6, 20]},
        epochs=300,
    ),
    Lesson(
        "lambda",
        "L2 penalty λ 0.001, 0.01, 0.1: smaller weights, underfitting at 0.1",
        _lambda,
        "boundaries.png",
        data="spiral",
        knobs={**SPIRAL, "hidden": 50},
        vary={"weight_decay": [0.001, 0.01, 0.1]},
        epochs=300,
    ),
    Lesson(
        "activation",
        "sigmoid vs ReLU, four hidden layers: the sigmoid's gradient vanishes",
        _activation,
        "activation=sigmoid/curves.png",
        data="digits",
        knobs={**DEEP, "log_grads": True},
        vary={"activation": ["sigmoid", "relu"]},
        epochs=30,
    ),
    Lesson(
        "init",
        "default vs N(0, 0.01²) init under SGD: the small one stays at chance",
        _init,
        "curves.png",
        data="digits",
        knobs=DEEP,
        vary={"init": ["default", "small"]},
        epochs=30,
    ),
    Lesson(
        "dropout",
        "dropout 0 vs 0.5, a big net on 90 points: dropout narrows the gap",
        _dropout,
        "curves.png",
        data="spiral:n=300,noise=0.8",
        knobs={
            "hidden": "200,200",
            "lr": 0.003,
            "batch_size": 16,
            "val_fraction": 0.8,
            "test_fraction": 0.1,
        },
        vary={"dropout": [0, 0.5]},
        epochs=300,
        train_curves=True,
    ),
    Lesson(
        "standardize",
        "features 1000x apart in scale, plain SGD: standardising lets it learn",
        _standardize,
        "boundaries.png",
        data="spiral:n=300,scale=0.001",
        knobs={"hidden": 20, "dropout": 0, "optimizer": "sgd", "momentum": 0, "lr": 0.2},
        vary={"standardize": [True, False]},
        epochs=150,
    ),
    Lesson(
        "linear",
        "the linear score function Wx + b vs one hidden layer on the spiral",
        _linear,
        "boundaries.png",
        data="spiral",
        knobs=SPIRAL,
        vary={"hidden": [0, 100]},
        epochs=300,
    ),
    Lesson(
        "loss",
        "hinge vs cross-entropy, linear: the loss changes scores, not the shape",
        _loss,
        "boundaries.png",
        data="spiral:n=300",
        knobs={"hidden": 0, "lr": 0.01},
        vary={"loss": ["hinge", "cross-entropy"]},
        epochs=100,
    ),
    Lesson(
        "regression",
        "a noisy 1-D curve, mean squared error: a hidden layer fits it, a line cannot",
        _regression,
        "hidden=32/fit.png",
        data="curve",
        knobs={"loss": "mse", "dropout": 0, "lr": 0.01, "lr_schedule": "cosine"},
        vary={"hidden": [0, 32]},
        epochs=100,
    ),
    Lesson(
        "features",
        "a ResNet trained on the digits, as features for a linear classifier",
        _features,
        "linear/curves.png",
        steps=(
            Train("resnet", "digits", {"depth": 8, "width": 8, "epochs": 10}, folder="resnet"),
            Features("resnet/run", "digits", "features.npz"),
            Train("mlp", f"{OUT}/features.npz", {"hidden": 0, "epochs": 50}, folder="linear"),
        ),
    ),
)

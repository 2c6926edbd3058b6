"""Option aliases shared by several commands, defined once (as huggingface_hub's cli does)."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout instead of a table.")
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Only the result: the bare answer (the JSON document with --json); no progress.",
    ),
]
LayersOpt = Annotated[
    str | None,
    typer.Option(
        "--layers",
        "-l",
        metavar="SPEC",
        help="Layer chain, e.g. 'conv3p1-64,maxpool2,conv3p1-128' "
        "(see 'Layer specs' in the README).",
    ),
]
ArchOpt = Annotated[
    str | None,
    typer.Option(
        "--arch",
        "-a",
        metavar="NAME",
        help="A standard network's feature extractor: alexnet, vgg11/13/16/19, "
        "resnet18/34/50/101/152, "
        "resnet20/32/44/56/110 and cifar-resnetN for any N = 6n+2 (CIFAR ResNets as "
        "'train resnet --depth N' builds them).",
    ),
]
SeedOpt = Annotated[
    int, typer.Option("--seed", help="Random seed; the same seed gives the same numbers.")
]

# --- training (dlcli train mlp|cnn|resnet|lstm, evaluate, predict) -----------------------------
DataOpt = Annotated[
    str,
    typer.Option(
        "--data",
        metavar="NAME|PATH",
        help="digits, spiral[:n=100,classes=3,noise=0.2], a .csv (header, label column), "
        "an .npz (arrays x, y) or an image folder DIR/<class>/*.png.",
    ),
]
TargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target", metavar="NAME", help="CSV label column (default: label).", show_default=False
    ),
]
ImageSizeOpt = Annotated[
    str | None,
    typer.Option(
        "--image-size",
        metavar="HxW",
        help="Resize folder images to this size (default: 32x32).",
        show_default=False,
    ),
]
EpochsOpt = Annotated[
    int | None,
    typer.Option(
        "--epochs",
        "-e",
        help="Training epochs (default: the model's, see above).",
        show_default=False,
    ),
]
BatchSizeOpt = Annotated[
    int, typer.Option("--batch-size", "-b", help="Examples per optimizer step.")
]
LrOpt = Annotated[
    float | None,
    typer.Option("--lr", help="Learning rate (default: 0.001 adam, 0.01 sgd).", show_default=False),
]
OptimizerOpt = Annotated[str, typer.Option("--optimizer", metavar="adam|sgd", help="Optimizer.")]
MomentumOpt = Annotated[float, typer.Option("--momentum", help="SGD momentum.")]
WeightDecayOpt = Annotated[
    float,
    typer.Option(
        "--weight-decay", metavar="LAMBDA", help="L2 penalty: adds LAMBDA*w to each gradient."
    ),
]
LossOpt = Annotated[
    str,
    typer.Option(
        "--loss",
        metavar="cross-entropy|hinge",
        help="Softmax cross-entropy, or the multiclass SVM hinge loss (margin 1).",
    ),
]
InitOpt = Annotated[
    str,
    typer.Option(
        "--init", metavar="default|small", help="Weights: PyTorch's default, or N(0, 0.01^2)."
    ),
]
PatienceOpt = Annotated[
    int,
    typer.Option(
        "--patience",
        metavar="N",
        help="Stop after N epochs without a better validation loss and restore the best weights "
        "(0: off).",
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        metavar="auto|cpu|cuda|mps",
        help="Where to run (auto: cuda, else mps, else cpu).",
    ),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help="CPU threads for torch (default: PyTorch's, one per physical core).",
        show_default=False,
    ),
]
StandardizeOpt = Annotated[
    bool,
    typer.Option(
        "--standardize/--no-standardize",
        help="Centre and scale features by the training split's mean and std.",
    ),
]
TestFractionOpt = Annotated[float, typer.Option("--test-fraction", help="Held-out test share.")]
ValFractionOpt = Annotated[
    float, typer.Option("--val-fraction", help="Validation share (checked each epoch).")
]
OutOpt = Annotated[
    str | None,
    typer.Option(
        "--out",
        "-o",
        metavar="DIR",
        help="Run folder to create (default: runs/MODEL-TIME).",
        show_default=False,
    ),
]
ResumeOpt = Annotated[
    str | None,
    typer.Option(
        "--resume",
        metavar="RUN_DIR",
        help="Continue this run from its last checkpoint (its own settings; --epochs may raise "
        "the total).",
        show_default=False,
    ),
]
RunDirArg = Annotated[
    str,
    typer.Argument(
        metavar="RUN_DIR", help="A run folder written by 'dlcli train'.", show_default=False
    ),
]

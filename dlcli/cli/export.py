"""`dlcli export RUN_DIR --format onnx|torchscript|pt2 [-o FILE]`: the model out of the run
folder, as a file that takes raw inputs and returns `dlcli predict`'s probabilities."""

from __future__ import annotations

from typing import Annotated

import click
import typer

from dlcli.cli.common import print_json, stdout_console
from dlcli.cli.options import JsonOpt, QuietOpt
from dlcli.cli.run_options import RunDirArg

FORMATS = ("onnx", "torchscript", "pt2")  # dlcli.training.export.FORMATS (kept light here)


def export(
    run_dir: RunDirArg,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="onnx (onnxruntime and friends), torchscript (torch.jit.load, C++ too) or pt2 "
            "(torch.export.load).",
            click_type=click.Choice(FORMATS, case_sensitive=False),
        ),
    ] = "onnx",
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="File to write (default: RUN_DIR plus .onnx, .pt or .pt2).",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """A run's model as an ONNX, TorchScript or pt2 file.

    The file takes raw inputs with any batch size, as 'dlcli predict' reads them (features,
    pixels; text models: token ids, the vocabulary in the metadata) and returns the class
    probabilities 'dlcli predict' gives; its metadata holds the class names and the dlcli
    version. It is checked against the PyTorch model before it is written. ONNX needs
    pip install 'dlcli[export]'.

    \b
    Examples:
      dlcli export runs/mine -o model.onnx
      dlcli export runs/mine --format torchscript -o model.pt --json
    """
    import dlcli

    result = dlcli.export(run_dir, format.lower(), out).to_dict()
    if json_out:
        print_json(result)
    elif quiet:
        print(result["out"])
    else:
        shape = "x".join(str(d) for d in result["input"]["shape"])
        console = stdout_console()
        console.print(
            f"{result['out']}: {result['model']} as {result['format']}, "
            f"{result['input']['name']} ({result['input']['dtype']}, {shape}) -> {_output(result)}"
            f"; {result['bytes']:,} bytes; matches PyTorch "
            f"to {result['check']['max_difference']:.1g}",
            highlight=False,
            soft_wrap=True,
        )
        for note in result["notes"]:
            console.print(f"note: {note}", highlight=False, soft_wrap=True)


def _output(result: dict) -> str:
    """What the exported model returns: class probabilities, or a regression's predictions."""
    targets = result.get("targets")
    if targets is not None:
        return f"predictions of {len(targets)} target(s) ({', '.join(targets)})"
    return f"probabilities of {len(result['classes'])} classes"

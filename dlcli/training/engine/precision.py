"""--precision and --compile: what a device can run, and the contexts the loop trains under.

    check_precision, check_compile   refuse in one line (exit 2) what this device cannot run,
                                     before a run folder exists
    autocast(precision, device)      the forward pass's autocast context (32: a no-op)
    grad_scaler(precision, device)   float16's loss scaling (None for the other precisions)
    compiled(model, enabled)         torch.compile with --compile

torch is imported inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError

if TYPE_CHECKING:
    import torch
    from torch import nn


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse, in one line, a precision this device cannot run (before a run folder exists)."""
    import torch

    if precision == "16-mixed" and device.type != "cuda":
        raise InputError(
            f"--precision 16-mixed needs a CUDA GPU (float16 autocast with loss scaling); on "
            f"{device.type} use --precision bf16 or 32"
        )
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise InputError("--precision bf16: this GPU has no bfloat16; use 16-mixed or 32")
    if precision == "bf16" and device.type == "mps":
        raise InputError("--precision bf16 is not supported on mps here; use --device cpu or 32")


def autocast(precision: str, device: torch.device) -> Any:
    """The autocast context of a precision (float32: a no-op context)."""
    import contextlib

    import torch

    if precision == "32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device) -> Any:
    """float16 needs loss scaling (GradScaler); None for the other precisions."""
    if precision != "16-mixed":
        return None
    import torch

    return torch.amp.GradScaler(device.type)


def check_compile(device: torch.device) -> None:
    """Refuse --compile in one line where torch.compile cannot work: no C++ compiler for the
    CPU code it generates, no Triton for CUDA, or a Python that TorchDynamo does not support."""
    import os
    import shutil

    import torch

    dynamo_ok = getattr(torch._dynamo, "is_dynamo_supported", lambda: True)
    if not dynamo_ok():
        raise InputError(
            f"--compile: torch.compile does not support this Python ({torch.__version__}); "
            "leave out --compile"
        )
    if device.type == "cpu":
        compilers = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
        if not any(c and shutil.which(c) for c in compilers):
            raise InputError(
                "--compile on CPU needs a C++ compiler (g++ or clang++, or $CXX) for the code "
                "torch.compile generates; install one or leave out --compile"
            )
    elif device.type == "cuda":
        import importlib.util

        if importlib.util.find_spec("triton") is None:
            raise InputError("--compile on CUDA needs Triton (pip install triton)")


def compiled(model: nn.Module, enabled: bool) -> nn.Module:
    """torch.compile(model) with --compile (the module's weights stay shared with `model`)."""
    if not enabled:
        return model
    import torch

    return torch.compile(model)  # type: ignore[return-value]

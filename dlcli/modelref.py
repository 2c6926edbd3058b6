"""REF: naming any PyTorch model from the shell, and building it (on the meta device by default).

A REF is one of

    package.module:callable               torchvision.models:resnet50
    path/to/file.py:callable              models/tiny.py:TinyNet
    ...:callable(literal arguments)       torchvision.models:resnet50(num_classes=10)
    a dlcli run folder                    runs/cnn-20260101-120000

The arguments are parsed with `ast` and must be Python literals (`ast.literal_eval` per
argument): a REF never evaluates code of its own. A module or file REF runs the user's code,
exactly as `python file.py` would (the file's folder goes first on `sys.path`); a run folder runs
nothing but dlcli: its model is rebuilt through the run's own spec (`spec.build_model`), and its
input shape is the default input.

`load_ref(ref)` builds the model inside `with torch.device("meta")`: no parameter is allocated.
A factory that computes with tensor values while building (torchvision's RegNets call `.tolist()`)
cannot run there; it is built on the CPU and then moved to meta, and `ModelRef.notes` says so.
Every bad REF is an `InputError` (exit status 2) of one line. `forward_on_meta` runs one forward
pass on meta tensors and names the module where a failure happened.

torch is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError

if TYPE_CHECKING:
    from torch import nn

# target ":" dotted.callable, then optional "(arguments)"; the target is greedy so that a path
# may hold colons, and the callable must be an identifier path.
_REF = re.compile(
    r"^(?P<target>.+):(?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*(?P<args>\(.*\))?$", re.S
)


@dataclass
class ModelRef:
    """What a REF resolved to."""

    ref: str  # as the user typed it
    module: nn.Module
    input_shape: tuple[int, ...] | None  # a run folder's sample shape (in its layout), else None
    notes: list[str] = field(default_factory=list)  # e.g. "built on the CPU, then moved to meta"
    sha256: str | None = None  # of the .py file, for file REFs


@dataclass(frozen=True)
class ParsedRef:
    """A REF taken apart (nothing imported yet)."""

    kind: str  # "module" | "file" | "run"
    target: str  # module name, file path or run folder
    name: str = ""  # the callable's (dotted) name
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def parse_ref(ref: str) -> ParsedRef:
    """Split a REF into its parts; literal arguments are read with `ast.literal_eval`."""
    text = str(ref).strip()
    if not text:
        raise InputError(
            "empty model REF: expected package.module:callable, file.py:callable or a run folder"
        )
    if Path(text).is_dir():
        if not (Path(text) / "config.json").is_file():
            raise InputError(f"'{text}' is a folder but not a dlcli run folder (no config.json)")
        return ParsedRef("run", text)
    match = _REF.match(text)
    if match is None:
        raise InputError(
            f"bad model REF '{text}': expected package.module:callable, path/to/file.py:callable "
            "(optionally with literal arguments: ...:callable(num_classes=10)) or a run folder"
        )
    target, name = match["target"].strip(), match["name"]
    args, kwargs = _parse_arguments(match["args"], text) if match["args"] else ((), {})
    kind = "file" if target.endswith(".py") or "/" in target or "\\" in target else "module"
    return ParsedRef(kind, target, name, args, kwargs)


def _parse_arguments(source: str, ref: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """`(1, width=2)` -> ((1,), {"width": 2}); anything but literals is an InputError."""
    try:
        call = ast.parse("f" + source, mode="eval").body
    except SyntaxError as exc:
        raise InputError(f"bad arguments in model REF '{ref}': {exc.msg}") from None
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise InputError(f"bad arguments in model REF '{ref}': expected (literal, name=literal)")

    def literal(node: ast.AST) -> Any:
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise InputError(
                f"model REF '{ref}': argument '{ast.unparse(node)}' is not a Python literal "
                "(numbers, strings, True/False/None, tuples, lists, dicts)"
            ) from None

    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        raise InputError(f"model REF '{ref}': *args and **kwargs are not literals")
    return tuple(literal(a) for a in call.args), {k.arg: literal(k.value) for k in call.keywords}


def ref_sha256(parsed: ParsedRef) -> str | None:
    """The SHA-256 of a file REF's file ('' when it does not exist yet: loading says so);
    None for module REFs."""
    if parsed.kind != "file":
        return None
    path = Path(parsed.target).expanduser()
    return file_sha256(path) if path.is_file() else ""


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_ref(ref: str, *, meta: bool = True) -> ModelRef:
    """Build the model a REF names: on the meta device (`meta=True`), else on the CPU."""
    parsed = parse_ref(ref)
    if parsed.kind == "run":
        return _load_run(ref, parsed, meta)
    sha = None
    if parsed.kind == "file":
        namespace, sha = _import_file(parsed.target, ref)
    else:
        namespace = _import_module(parsed.target, ref)
    factory = _attribute(namespace, parsed.name, parsed.target, ref)
    if not callable(factory):
        raise InputError(
            f"model REF '{ref}': '{parsed.name}' is a {type(factory).__name__}, not callable"
        )
    module, notes = _build(factory, parsed, ref, meta)
    return ModelRef(ref=ref, module=module, input_shape=None, notes=notes, sha256=sha)


def _import_module(name: str, ref: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise InputError(f"model REF '{ref}': module '{name}' not found") from None
        raise InputError(
            f"model REF '{ref}': importing '{name}' failed: {_one_line(exc)}"
        ) from None
    except Exception as exc:  # the user's code raised while importing
        raise InputError(
            f"model REF '{ref}': importing '{name}' failed: {_one_line(exc)}"
        ) from None


def _import_file(path_text: str, ref: str) -> tuple[Any, str]:
    """Run a .py file as `python file.py` would (its folder first on sys.path) as a module."""
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise InputError(f"model REF '{ref}': file '{path_text}' not found")
    sha = file_sha256(path)
    resolved = path.resolve()
    # one module per file content: a second load of the same bytes reuses it (train, then
    # evaluate in one process), a changed file gets a fresh one
    stem = re.sub(r"\W", "_", resolved.stem)
    module_name = f"_dlcli_model_{stem}_{sha[:12]}"
    if module_name in sys.modules:
        return sys.modules[module_name], sha
    folder = str(resolved.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise InputError(f"model REF '{ref}': '{path_text}' cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look classes up here
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise InputError(
            f"model REF '{ref}': running '{path_text}' failed: {_one_line(exc)}"
        ) from None
    return module, sha


def _attribute(namespace: Any, dotted: str, where: str, ref: str) -> Any:
    value = namespace
    for i, part in enumerate(dotted.split(".")):
        if not hasattr(value, part):
            owner = where if i == 0 else ".".join(dotted.split(".")[:i])
            names = [n for n in dir(value) if not n.startswith("_")]
            near = difflib.get_close_matches(part, names, n=5, cutoff=0.6)
            if near:
                hint = f"did you mean {', '.join(near)}?"
            else:
                shown = [n for n in names if callable(getattr(value, n, None))][:8]
                hint = (
                    f"it has {', '.join(shown)}{', ...' if len(names) > 8 else ''}"
                    if shown
                    else "it defines no callables"
                )
            raise InputError(f"model REF '{ref}': '{owner}' has no '{part}'; {hint}")
        value = getattr(value, part)
    return value


def _build(factory: Any, parsed: ParsedRef, ref: str, meta: bool) -> tuple[nn.Module, list[str]]:
    """Call the factory (on meta, else on the CPU and then to meta), check it made a Module."""
    import torch

    notes: list[str] = []
    try:
        if meta:
            with torch.device("meta"):
                module = factory(*parsed.args, **parsed.kwargs)
        else:
            module = factory(*parsed.args, **parsed.kwargs)
    except Exception as exc:
        if not meta:
            raise _call_error(ref, exc) from None
        reason = _one_line(exc)
        try:
            with torch.device("cpu"), _skip_initialisation():
                module = factory(*parsed.args, **parsed.kwargs)
        except Exception as cpu_exc:
            raise _call_error(ref, cpu_exc) from None
        if isinstance(module, torch.nn.Module):
            module = module.to("meta")
            notes.append(f"built on the CPU, then moved to meta: {reason}")
    if not isinstance(module, torch.nn.Module):
        raise InputError(
            f"model REF '{ref}': '{parsed.name}' returned a {type(module).__module__}."
            f"{type(module).__qualname__}, not a torch.nn.Module"
        )
    return module, notes


# In-place ops on tensors this large while a model is being built are weight initialisation
# (kaiming_uniform_, normal_, zero_, ...): skipped on the CPU fallback, so that a 644 M-parameter
# RegNet costs neither the time to draw its weights nor the memory to touch them before it moves
# to meta, where values do not exist anyway. Smaller tensors (a factory's own arithmetic) compute.
SKIP_INIT_NUMEL = 1 << 16


def _skip_initialisation() -> Any:
    """A dispatch mode that turns in-place ops on large tensors into no-ops (see above)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class SkipInit(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            schema = func._schema
            inplace = bool(schema.arguments) and schema.arguments[0].is_write
            if inplace and args and getattr(args[0], "numel", lambda: 0)() >= SKIP_INIT_NUMEL:
                return args[0]
            return func(*args, **(kwargs or {}))

    return SkipInit()


def _call_error(ref: str, exc: BaseException) -> InputError:
    return InputError(f"model REF '{ref}': building the model failed: {_one_line(exc)}")


def _load_run(ref: str, parsed: ParsedRef, meta: bool) -> ModelRef:
    """A run folder's model, rebuilt by dlcli's own spec code (the weights are not loaded)."""
    import torch

    from dlcli.training.runs.spec import read_spec

    spec, _ = read_spec(Path(parsed.target))
    if meta:
        with torch.device("meta"):
            module = spec.build_model()
    else:
        module = spec.build_model()
    sha = getattr(spec.model_config, "sha256", None)
    notes = [f"a '{spec.model}' run: its architecture, without its trained weights"]
    return ModelRef(
        ref=ref, module=module, input_shape=tuple(spec.input_shape), notes=notes, sha256=sha
    )


def parse_input(text: str) -> tuple[int, ...]:
    """An input shape per sample, `3x224x224` -> (3, 224, 224) (positive sizes, x-separated)."""
    parts = str(text).lower().replace(" ", "").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or any(n < 1 for n in shape) or len(shape) > 5:
        raise InputError(
            f"invalid --input '{text}': expected the per-sample shape, e.g. 3x224x224 (C x H x W) "
            "or 784"
        )
    return shape


def forward_on_meta(module: nn.Module, input_shape: tuple[int, ...], batch: int = 1) -> Any:
    """One forward pass of a meta input (batch, *input_shape) under no_grad; a failure is an
    InputError naming the input, the innermost module that was running, and the message."""
    import torch

    with ModuleStack(module) as stack, torch.no_grad():
        x = torch.empty((batch, *input_shape), device="meta")
        try:
            return module(x)
        except InputError:
            raise
        except Exception as exc:
            raise forward_error(exc, stack.failed_in(), input_shape) from None


def forward_error(
    exc: BaseException, where: tuple[str, str], input_shape: tuple[int, ...]
) -> InputError:
    """The one-line error of a forward pass that failed in module `where` (name, type)."""
    name, kind = where
    shape = "x".join(map(str, input_shape))
    place = f"in '{name}' ({kind})" if name else f"in the model's own forward ({kind})"
    return InputError(f"the model's forward fails at input {shape} {place}: {_one_line(exc)}")


class ModuleStack:
    """Forward hooks on every submodule that keep the stack of qualified names running now.

    `stack[-1]` is the innermost module; after an exception the stack still holds the modules
    the exception left (their post-hooks never ran), so `failed_in()` names where it happened.
    Used as a context manager; the hooks are removed on exit and the model is left unchanged.
    """

    def __init__(self, module: nn.Module) -> None:
        self.root = module
        self.stack: list[tuple[str, str]] = []
        self._handles: list[Any] = []

    def __enter__(self) -> ModuleStack:
        for name, sub in self.root.named_modules():
            kind = type(sub).__name__
            self._handles.append(sub.register_forward_pre_hook(self._push(name, kind)))
            self._handles.append(sub.register_forward_hook(self._pop()))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _push(self, name: str, kind: str) -> Any:
        def hook(module: Any, args: Any) -> None:
            self.stack.append((name, kind))

        return hook

    def _pop(self) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            if self.stack:
                self.stack.pop()

        return hook

    def failed_in(self) -> tuple[str, str]:
        return self.stack[-1] if self.stack else ("", type(self.root).__name__)


def _one_line(exc: BaseException) -> str:
    """`Type: message` of an exception, on one line and of a readable length."""
    message = " ".join(str(exc).split()) or "(no message)"
    if len(message) > 400:
        message = message[:397] + "..."
    return f"{type(exc).__name__}: {message}"

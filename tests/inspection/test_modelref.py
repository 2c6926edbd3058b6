"""REF: naming any PyTorch model (`dlcli.modelref`): the forms, literal arguments, the meta
device and its CPU fallback, run folders, and one-line errors for every bad REF."""

from __future__ import annotations

import pytest
from conftest import ROOT

from dlcli.errors import InputError
from dlcli.modelref import file_sha256, forward_on_meta, load_ref, parse_input, parse_ref

torch = pytest.importorskip("torch")

MODELS = ROOT / "tests" / "models" / "tiny.py"


def test_parse_forms():
    ref = parse_ref("torch.nn:Conv2d(3, 8, kernel_size=(3, 5), bias=False)")
    assert (ref.kind, ref.target, ref.name) == ("module", "torch.nn", "Conv2d")
    assert ref.args == (3, 8) and ref.kwargs == {"kernel_size": (3, 5), "bias": False}
    ref = parse_ref(f"{MODELS}:Net")
    assert (ref.kind, ref.target, ref.name, ref.args, ref.kwargs) == (
        "file",
        str(MODELS),
        "Net",
        (),
        {},
    )
    assert parse_ref("pkg.mod:Outer.build").name == "Outer.build"
    assert parse_ref("C:/models/net.py:Net").target == "C:/models/net.py"  # a colon in the path


@pytest.mark.parametrize(
    "ref",
    [
        "torch.nn:Linear(__import__('os').getcwd())",
        "torch.nn:Linear(3, out_features=2 + 2)",
        "torch.nn:Linear(*[3, 4])",
        "torch.nn:Linear(**{'a': 1})",
        "torch.nn:Linear(x.y)",
    ],
)
def test_arguments_are_literals_only(ref):
    with pytest.raises(InputError, match="literal"):
        parse_ref(ref)


def test_module_ref_builds_on_meta():
    ref = load_ref("torch.nn:Conv2d(3, 8, 3)")
    assert isinstance(ref.module, torch.nn.Conv2d)
    assert ref.module.weight.device.type == "meta" and ref.notes == [] and ref.sha256 is None
    assert ref.input_shape is None
    assert load_ref("torch.nn:Conv2d(3, 8, 3)", meta=False).module.weight.device.type == "cpu"


def test_file_ref_and_its_sha256():
    ref = load_ref(f"{MODELS}:Net(classes=4, width=6)")
    assert ref.module.head.out_features == 4 and ref.module.stem.out_channels == 6
    assert ref.sha256 == file_sha256(MODELS) and len(ref.sha256) == 64
    assert all(p.device.type == "meta" for p in ref.module.parameters())


def test_factory_that_computes_is_built_on_cpu_then_moved(tmp_path):
    ref = load_ref(f"{MODELS}:computed_widths")
    assert ref.module.stem.out_channels == 8
    assert all(p.device.type == "meta" for p in ref.module.parameters())
    assert len(ref.notes) == 1 and ref.notes[0].startswith("built on the CPU, then moved to meta: ")


def test_cpu_fallback_skips_initialising_large_weights(tmp_path):
    """A large model built on the CPU fallback costs no weight drawing (it ends on meta)."""
    path = tmp_path / "big.py"
    path.write_text(
        "import torch\nfrom torch import nn\n"
        "def build():\n"
        "    width = int(torch.tensor(4096.0).item())\n"
        "    return nn.Sequential(*[nn.Linear(width, width) for _ in range(24)])\n"
    )
    import time

    start = time.perf_counter()
    ref = load_ref(f"{path}:build")  # 400 M parameters: drawing them would take many seconds
    assert time.perf_counter() - start < 5
    assert sum(p.numel() for p in ref.module.parameters()) == 24 * (4096 * 4096 + 4096)
    assert ref.module[0].weight.device.type == "meta"


def test_run_folder_ref(mlp_run):
    from dlcli.training.refs import load_model_ref

    folder, _ = mlp_run
    ref = load_model_ref(str(folder))
    assert ref.input_shape == (64,)
    assert isinstance(ref.module, torch.nn.Sequential)
    assert next(ref.module.parameters()).device.type == "meta"


@pytest.mark.parametrize(
    ("ref", "fragments"),
    [
        ("no_such_pkg.models:net", ["module 'no_such_pkg.models' not found"]),
        ("tests/models/none.py:Net", ["file 'tests/models/none.py' not found"]),
        (f"{MODELS}:Nett", ["has no 'Nett'", "did you mean Net"]),
        (f"{MODELS}:not_a_module", ["returned a builtins.int, not a torch.nn.Module"]),
        (f"{MODELS}:Net(clases=3)", ["building the model failed", "unexpected keyword"]),
        ("torch.nn", ["bad model REF"]),
        ("", ["empty model REF"]),
    ],
)
def test_bad_refs_are_one_line_input_errors(ref, fragments):
    with pytest.raises(InputError) as info:
        load_ref(ref)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_forward_failure_names_the_module():
    ref = load_ref(f"{MODELS}:broken")
    with pytest.raises(InputError) as info:
        forward_on_meta(ref.module, (3, 8, 8))
    message = str(info.value)
    assert "input 3x8x8" in message and "in 'head' (Linear)" in message
    assert not any(p.device.type != "meta" for p in ref.module.parameters())
    assert ref.module.block.conv._forward_hooks == {}  # hooks removed: the model is unchanged


def test_parse_input():
    assert parse_input("3x224x224") == (3, 224, 224)
    assert parse_input("784") == (784,)
    for bad in ("3x0", "ax3", "", "-1"):
        with pytest.raises(InputError, match="--input"):
            parse_input(bad)

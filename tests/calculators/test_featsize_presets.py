"""featsize's ResNet presets count every parameter of the network they name: the real torch
model is the oracle (`train resnet`'s CifarResNet for cifar-resnetN), part by part."""

from __future__ import annotations

import json

import pytest
from conftest import assert_input_error, run_dlcli

from dlcli.calculators.featsize import featsize

torch = pytest.importorskip("torch")
nn = torch.nn


def model_parts(depth: int, width: int, in_channels: int, classes: int) -> dict[str, int]:
    """Parameters of `train resnet --depth D --width W`'s model, by part."""
    from dlcli.training.families.resnet import ResNetConfig, build_resnet

    model = build_resnet(ResNetConfig(depth=depth, width=width), (in_channels, 8, 8), classes)

    def count(modules) -> int:
        return sum(p.numel() for m in modules for p in m.parameters(recurse=False))

    shortcuts = [block.shortcut for s in (model.stage1, model.stage2, model.stage3) for block in s]
    projections = [m for m in shortcuts if not isinstance(m, nn.Identity)]
    in_projections = {id(m) for p in projections for m in p.modules()}
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    return {
        "main convs": count(model.main_path_convs()),
        "batch norm": count(m for m in norms if id(m) not in in_projections),
        "projection shortcut": count(m for p in projections for m in p.modules()),
        "projections": len(projections),
        "classifier": count([model.fc]),
        "total": sum(p.numel() for p in model.parameters()),
    }


@pytest.mark.parametrize(
    ("depth", "in_channels", "classes"), [(8, 1, 10), (14, 3, 10), (20, 3, 100), (56, 2, 3)]
)
def test_cifar_resnet_presets_count_the_training_model(depth, in_channels, classes):
    parts = model_parts(depth, 16, in_channels, classes)  # the presets have the paper's width
    arch = f"cifar-resnet{depth}"
    result = featsize((8, 8), arch=arch, in_channels=in_channels, classes=classes)
    sides = {side.kind: side for side in result.sides}
    assert sum(layer.params for layer in result.layers) == parts["main convs"]
    assert sides["batch norm"].params == parts["batch norm"]
    assert sides["projection shortcut"].params == parts["projection shortcut"]
    assert sides["projection shortcut"].count == parts["projections"] == 2
    assert sides["classifier"].params == parts["classifier"]
    assert result.params == parts["total"]
    # without --classes: the feature extractor (everything but the classifier)
    body = featsize((8, 8), arch=arch, in_channels=in_channels)
    assert body.params == parts["total"] - parts["classifier"]
    assert [side.kind for side in body.sides] == ["batch norm", "projection shortcut"]


def test_every_width_through_the_spec_the_training_model_uses():
    """The training family builds its main path from `cifar_resnet_specs(depth, width)`; the
    sides follow the same tokens, so other widths agree as well."""
    from dlcli.archs import arch_sides, cifar_resnet_specs
    from dlcli.calculators.featsize import chain_output, side_params
    from dlcli.layers import parse_layers

    for depth, width in ((8, 8), (20, 4), (14, 12)):
        parts = model_parts(depth, width, 3, 7)
        tokens = cifar_resnet_specs(depth, width)
        chain = chain_output(parse_layers(",".join(tokens)), (8, 8), 3)
        # the sides of the width-16 preset of the same depth: same positions, other channels
        sides = arch_sides(f"cifar-resnet{depth}")
        total = chain._replace(sides=side_params(sides, chain, 7)).params
        assert total == parts["total"], (depth, width)


def test_the_issue_example_in_a_real_process():
    """`featsize 8x8 --arch cifar-resnet8 --in-channels 1` said 73,872 where `train resnet
    --depth 8` on the 8x8 digits builds 77,754: the batch norms, the two projection shortcuts
    and the classifier were missing."""
    parts = model_parts(8, 16, 1, 10)
    result = run_dlcli(
        "featsize",
        "8x8",
        "--arch",
        "cifar-resnet8",
        "--in-channels",
        "1",
        "--classes",
        "10",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["params"] == parts["total"]
    table = run_dlcli(
        "featsize", "8x8", "--arch", "cifar-resnet8", "--in-channels", "1", "--classes", "10"
    )
    assert f"{parts['total']:,}" in table.stdout and "projection shortcuts (2)" in table.stdout


def test_torchvision_resnets_count_their_batch_norms_and_downsampling():
    # torchvision's documented parameter counts (1000 classes): resnet18 11,689,512 and
    # resnet50 25,557,032; torchvision is not a dependency, so its published figures stand in.
    assert featsize((224, 224), arch="resnet18", in_channels=3, classes=1000).params == 11_689_512
    assert featsize((224, 224), arch="resnet50", in_channels=3, classes=1000).params == 25_557_032


def test_classes_is_for_presets_with_a_classifier(invoke):
    assert_input_error(
        invoke("featsize", "224x224", "--arch", "vgg16", "--classes", "10"), "--classes"
    )
    assert_input_error(invoke("featsize", "32", "-k", "3", "--classes", "10"), "--classes")
    assert_input_error(
        invoke("featsize", "32x32", "--arch", "resnet20", "--classes", "0"), "--classes"
    )
    stream = invoke("featsize", "-", "--arch", "vgg16", "--classes", "3", "-q", input="224\n")
    assert_input_error(stream, "--classes")  # refused before the first line


def test_stream_lines_carry_the_presets_sides(invoke):
    args = ["featsize", "--arch", "cifar-resnet8", "--in-channels", "1", "--classes", "10"]
    single = json.loads(invoke(*args[:1], "8x8", *args[1:], "--json").stdout)
    stream = invoke(*args[:1], "-", *args[1:], "--json", input="8x8\n")
    assert json.loads(stream.stdout) == {"line": 1, **single}

"""receptive-field --model: fields of nn.Modules through branches, checked against gradients.

Every net here is written in the test; `field_oracle` linearises it (positive weights, no
activations, max pools averaged) so the input gradient of one output unit is non-zero exactly
on that unit's field, and compares it with what dlcli reports, node by node.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from field_oracle import check_against_gradients
from torch import nn

from dlcli.modelfield import model_receptive_fields

torch.set_num_threads(1)


def fields(net, shape, nodes=None):
    return model_receptive_fields(net, shape, nodes).to_dict()


def by_name(document: dict) -> dict:
    return {n["name"]: n for n in document["nodes"]}


def conv(cin, cout, k=3, **kw):
    return nn.Conv2d(cin, cout, k, **kw)


class Basic(nn.Module):
    """A ResNet basic block; with stride 2, a 1x1 projection shortcut (`out += identity`)."""

    def __init__(self, c: int, out: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv(c, out, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv(out, out, padding=1)
        self.down = nn.Sequential(conv(c, out, 1, stride=stride)) if stride != 1 else None

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        out = self.conv2(self.relu(self.bn1(self.conv1(x))))
        out += identity
        return self.relu(out)


class Inception(nn.Module):
    """Four branches (1x1, 3x3, 5x5 as two 3x3, pool) concatenated along channels."""

    def __init__(self, c: int):
        super().__init__()
        self.b1 = conv(c, 2, 1)
        self.b3 = nn.Sequential(conv(c, 2, 1), nn.ReLU(), conv(2, 2, padding=1))
        self.b5 = nn.Sequential(conv(c, 2, padding=1), conv(2, 2, padding=1))
        self.pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(c, 2, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.pool(x)], 1)


class UNet(nn.Module):
    """Down by pooling and a strided conv, up by nearest, bilinear and transposed conv, with
    skip connections concatenated."""

    def __init__(self, c: int = 3, w: int = 4):
        super().__init__()
        self.enc1 = nn.Sequential(conv(c, w, padding=1), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.enc2 = conv(w, w, padding=1)
        self.down = conv(w, w, stride=2, padding=1)
        self.bottom = conv(w, w, padding=2, dilation=2)
        self.up1 = nn.ConvTranspose2d(w, w, 4, stride=2, padding=1)
        self.dec1 = conv(2 * w, w, padding=1)
        self.up2 = nn.Upsample(scale_factor=2)
        self.dec2 = conv(2 * w, w, padding=1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottom(self.down(e2))
        d1 = self.dec1(torch.cat([self.up1(b), e2], 1))
        d2 = self.dec2(torch.cat([self.up2(d1), e1], 1))
        return d2 + F.interpolate(b, scale_factor=4, mode="bilinear")


class SqueezeExcite(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = conv(c, c, padding=1)
        self.fc = nn.Linear(c, c)

    def forward(self, x):
        y = self.conv(x)
        weights = torch.sigmoid(self.fc(y.mean((2, 3))))
        return y * weights[:, :, None, None]


NETS = {
    "residual": (
        lambda: nn.Sequential(conv(3, 4, 7, stride=2, padding=3), Basic(4, 4), Basic(4, 8, 2)),
        (3, 40, 40),
    ),
    "inception": (lambda: nn.Sequential(conv(3, 4, padding=1), Inception(4)), (3, 24, 24)),
    "dilated": (
        lambda: nn.Sequential(*[conv(3, 3, padding=d, dilation=d) for d in (1, 2, 4, 8)]),
        (3, 48, 48),
    ),
    "unet": (UNet, (3, 64, 64)),
    "non_square": (
        lambda: nn.Sequential(
            conv(3, 4, (3, 5), padding=(1, 0)),
            nn.AvgPool2d((2, 3), ceil_mode=True),
            nn.ZeroPad2d((1, 2, 0, 3)),
            conv(4, 4, (1, 3), stride=(1, 2), dilation=(1, 2)),
            nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0)),
        ),
        (3, 37, 53),
    ),
    "adaptive_then_global": (
        lambda: nn.Sequential(
            conv(3, 4, stride=2),
            nn.AdaptiveAvgPool2d((5, 3)),
            conv(4, 4, 2),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            nn.Linear(4, 2),
        ),
        (3, 26, 21),
    ),
    "squeeze_excite": (lambda: nn.Sequential(conv(3, 4, stride=2), SqueezeExcite(4)), (3, 20, 20)),
    "transposed_and_upsampling": (
        lambda: nn.Sequential(
            conv(3, 4, stride=2),
            nn.ConvTranspose2d(4, 4, 3, stride=3, padding=1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            nn.PixelShuffle(2),
            conv(1, 4, 3),
            nn.PixelUnshuffle(2),
            nn.ConvTranspose2d(16, 4, (2, 5), stride=(2, 1), dilation=(1, 2)),
        ),
        (3, 17, 19),
    ),
    "one_dimension": (
        lambda: nn.Sequential(
            nn.Conv1d(2, 2, 5, padding=2), nn.MaxPool1d(3, 2), nn.Conv1d(2, 2, 3, dilation=3)
        ),
        (2, 60),
    ),
    "three_dimensions": (
        lambda: nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.AvgPool3d(2), nn.Conv3d(2, 1, 3)),
        (1, 12, 12, 12),
    ),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_nets_match_gradients(name):
    make, shape = NETS[name]
    torch.manual_seed(0)
    net = make()
    assert check_against_gradients(net, shape, fields(net, shape)) > 0


class Bottleneck(nn.Module):
    """torchvision's ResNet-50 block (stride on the 3x3 conv), at a fraction of the width."""

    def __init__(self, c: int, width: int, stride: int = 1):
        super().__init__()
        out = width * 4
        self.conv1, self.bn1 = conv(c, width, 1), nn.BatchNorm2d(width)
        self.conv2 = conv(width, width, stride=stride, padding=1)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = conv(width, out, 1), nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or c != out:
            self.downsample = nn.Sequential(conv(c, out, 1, stride=stride), nn.BatchNorm2d(out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class ResNet50(nn.Module):
    """torchvision's resnet50 layout (stem, maxpool, 3-4-6-3 bottlenecks, avgpool, fc), with
    widths divided by 16: receptive fields do not depend on channels."""

    def __init__(self, base: int = 4, classes: int = 10):
        super().__init__()
        self.conv1 = conv(3, base, 7, stride=2, padding=3, bias=False)
        self.bn1, self.relu = nn.BatchNorm2d(base), nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c, stages = base, []
        for i, blocks in enumerate((3, 4, 6, 3)):
            width = base * 2**i
            layer = [Bottleneck(c, width, 1 if i == 0 else 2)]
            layer += [Bottleneck(width * 4, width) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layer))
            c = width * 4
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class VGG16(nn.Module):
    """torchvision's vgg16 layout (13 convs, 5 max pools, adaptive 7x7 pool, 3 linears),
    with widths divided by 16."""

    def __init__(self, div: int = 16, classes: int = 10):
        super().__init__()
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"] + [512, 512, 512, "M"] * 2
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [conv(c, v // div, padding=1), nn.ReLU(inplace=True)]
                c = v // div
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(c * 49, 64), nn.ReLU(True), nn.Dropout(), nn.Linear(64, classes)
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


RESNET_STAGES = ["conv1", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]


def test_resnet50_stages_match_gradients():
    """Every stage of ResNet-50, through its identity and projection shortcuts: the main path
    fixes the field (the shortcuts are aligned with it), checked unit by unit. The input is
    taller than layer4's field, so its units are checked inside the image, not clipped."""
    net = ResNet50()
    shape = (3, 544, 40)
    document = fields(net, shape, RESNET_STAGES + ["layer3.5.conv2", "output"])
    stages = by_name(document)
    # torchvision's layout (the stride on the 3x3 conv); the gradients below confirm it
    assert stages["layer4"]["rf"][0] == 427 and stages["layer4"]["stride"] == [32, 32]
    assert all(stages[n]["aligned"] for n in RESNET_STAGES)
    assert stages["avgpool"]["global"] and stages["fc"]["rf"] == [544, 40]
    assert check_against_gradients(net, shape, document, units=2) >= 2 * len(RESNET_STAGES)


def test_vgg16_stages_match_gradients():
    net = VGG16()
    shape = (3, 256, 64)
    pools = [f"features.{i}" for i, m in enumerate(net.features) if isinstance(m, nn.MaxPool2d)]
    document = fields(net, shape, pools + ["features.28", "avgpool", "classifier", "output"])
    found = by_name(document)
    assert [found[p]["rf"][0] for p in pools] == [6, 16, 44, 100, 212]  # Distill: VGG-16, 212
    assert found["features.30"]["padding"] == [90, 90]
    assert found["classifier"]["global"]
    assert check_against_gradients(net, shape, document, units=2) > len(pools)


class TwoKernels(nn.Module):
    """An odd (3x3) and an even (2x2) kernel added: strides agree, centres do not."""

    def __init__(self):
        super().__init__()
        self.odd = conv(1, 1, 3, padding=1)
        self.even = conv(1, 1, 2, padding=1)

    def forward(self, x):
        return self.odd(x) + self.even(x)[:, :, :-1, :-1]


def test_paths_that_disagree_report_the_enclosing_field_and_their_offsets():
    net, shape = TwoKernels(), (1, 12, 12)
    document = fields(net, shape, ["odd", "even", "output"])
    out = by_name(document)["output"]
    assert out["aligned"] is False and out["rf"] == [3, 3]
    offsets = sorted(p["offset"] for p in out["paths"][0])
    assert offsets == [-0.5, 0]  # the even kernel's centre sits half a pixel up and left
    assert by_name(document)["even"]["aligned"] is True
    check_against_gradients(net, shape, document)


class TwoStrides(nn.Module):
    def __init__(self):
        super().__init__()
        self.wide = nn.Conv1d(1, 1, 5)  # 8 -> 4, stride 1
        self.strided = nn.Conv1d(1, 1, 2, stride=2)  # 8 -> 4, stride 2

    def forward(self, x):
        return self.wide(x) + self.strided(x)


def test_paths_with_different_strides_enclose_each_unit():
    from field_oracle import gradient_spans, linearised

    net = TwoStrides()
    out = fields(net, (1, 8))["nodes"][-1]
    assert out["aligned"] is False and out["stride"] == [None]
    strides = sorted(p["stride"] for p in out["paths"][0])
    assert strides == [1, 2]
    spans = gradient_spans(linearised(net), (1, 8), [("output", (i,)) for i in range(4)])
    # unit i: [i, i+4] (wide) and [2i, 2i+1] (strided); the widest is the reported field
    want = [(min(i, 2 * i), max(i + 4, 2 * i + 1)) for i in range(4)]
    assert [s[0] for s in spans] == want
    assert out["rf"] == [max(b - a + 1 for a, b in want)] and out["padding"] == [0]


class Rolled(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = conv(3, 3, padding=1)
        self.b = conv(3, 3, padding=1)

    def forward(self, x):
        return self.b(torch.roll(self.a(x), 1, dims=2))


def test_an_op_without_a_rule_makes_the_field_unknown_not_a_guess():
    found = by_name(fields(Rolled(), (3, 16, 16), ["a", "b", "output"]))
    assert found["a"]["rf"] == [3, 3] and "unknown" not in found["a"]
    for name in ("b", "output"):
        assert found[name]["unknown"] == "unknown after roll" and found[name]["rf"] is None


class ShapeBranch(nn.Module):
    """Control flow on a shape: torch.fx cannot trace it, an eager run on meta tensors can."""

    def __init__(self):
        super().__init__()
        self.a = conv(3, 3, padding=1)
        self.b = conv(3, 3, stride=2)

    def forward(self, x):
        if x.shape[-1] > 8:
            x = F.avg_pool2d(x, 2)  # the oracle cannot average a functional max pool
        return self.b(F.relu(self.a(x)) + x)


class Wrapped(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv(3, 3, 3)
        self.body = ShapeBranch()
        self.head = conv(3, 3, 3, padding=1)

    def forward(self, x):
        return self.head(self.body(self.stem(x)))


@pytest.mark.parametrize("make", [ShapeBranch, Wrapped])
def test_untraceable_forwards_run_eagerly_and_match_gradients(make):
    net, shape = make(), (3, 40, 40)
    nodes = ["stem", "body", "body.a", "body.b", "head", "output"] if make is Wrapped else None
    document = fields(net, shape, nodes)
    assert any("torch.fx could not trace" in note for note in document["notes"])
    check_against_gradients(net, shape, document)


class ValueBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = conv(3, 3, 3)
        self.b = conv(3, 3, 3)

    def forward(self, x):
        x = self.a(x)
        if x.mean() > 0:  # needs values: a meta tensor has none
            x = x * 2
        return self.b(x)


def test_a_forward_that_needs_values_places_what_it_reached():
    found = by_name(fields(ValueBranch(), (3, 16, 16)))
    assert found["a"]["rf"] == [3, 3]
    for name in ("b", "output"):
        assert found[name]["unknown"].startswith("not placed: the forward stopped before it")


def test_the_model_is_neither_moved_nor_changed():
    net = Wrapped()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fields(net, (3, 24, 24))
    after = net.state_dict()
    assert all(
        after[k].device.type == "cpu" and torch.equal(after[k], v) for k, v in before.items()
    )


def test_library_entry_point_takes_a_module_or_a_ref():
    import dlcli

    result = dlcli.model_receptive_fields(Wrapped(), "3x24x24", ["stem"])
    assert result.to_dict()["nodes"][0]["rf"] == [3, 3]
    by_ref = dlcli.model_receptive_fields("tests/models/tiny.py:Net", "3x16x16", ["stem"])
    assert by_ref.to_dict() == {**by_ref.to_dict(), "model": "tests/models/tiny.py:Net"}
    assert by_ref.nodes[0].rf == [3, 3]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--input", "3x16x16", "--node", "nope"], ["no module 'nope'", "stem"]),
        ([], ["--input"]),
        (["--input", "16"], ["invalid --input '16'"]),
        (["--input", "3x16x16", "--layers", "conv3"], ["--model cannot be combined"]),
    ],
)
def test_cli_errors_are_one_line(invoke, args, fragments):
    from conftest import assert_input_error

    assert_input_error(invoke("receptive-field", "--model", TINY, *args), *fragments)


def test_cli_node_options_need_a_model(invoke):
    from conftest import assert_input_error

    assert_input_error(invoke("receptive-field", "--layers", "conv3", "--node", "x"), "--model")


TINY = "tests/models/tiny.py:Net"


def test_cli_json_table_and_quiet_agree_with_the_library(invoke):
    library = model_receptive_fields(TINY, "3x16x16").to_dict()
    result = invoke("receptive-field", "--model", TINY, "--input", "3x16x16", "--json")
    assert result.exit_code == 0, result.stderr
    import json

    assert json.loads(result.stdout) == library
    names = [n["name"] for n in library["nodes"]]
    assert names[-1] == "output" and "stem" in names
    table = invoke("receptive-field", "--model", TINY, "--input", "3x16x16")
    assert table.exit_code == 0 and "stem" in table.stdout and "global" in table.stdout
    quiet = invoke("receptive-field", "--model", TINY, "--input", "3x16x16", "-q")
    assert quiet.stdout.splitlines()[0] == "stem\t3x3"


def test_cli_as_a_real_process():
    import json

    from conftest import ROOT, run_dlcli

    result = run_dlcli(
        "receptive-field",
        "--model",
        TINY,
        "--input",
        "3x20x20",
        "--node",
        "block",
        "--json",
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    node = json.loads(result.stdout)["nodes"][0]
    assert (node["name"], node["rf"], node["stride"], node["padding"]) == (
        "block",
        [5, 5],
        [1, 1],
        [2, 2],
    )


@pytest.mark.torchvision
@pytest.mark.parametrize("name", ["resnet50", "vgg16"])
def test_torchvision_models_match_gradients(name):
    models = pytest.importorskip("torchvision.models")
    net = getattr(models, name)()
    shape = (3, 512, 32) if name == "resnet50" else (3, 256, 32)
    document = fields(net, shape)
    assert all(n["aligned"] for n in document["nodes"])
    assert check_against_gradients(net, shape, document, units=1) > 0


def _example(name: str):
    import importlib.util

    from conftest import ROOT

    path = ROOT / "sample_data" / "field_models.py"
    spec = importlib.util.spec_from_file_location("field_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)()


def test_readme_models_match_gradients():
    """The README's examples: SkipNet's disagreeing paths and fractional stride, and
    ResNet-18's stages (on an input taller than layer4's 435-pixel field)."""
    net, shape = _example("SkipNet"), (3, 32, 32)
    assert check_against_gradients(net, shape, fields(net, shape)) > 0
    net, shape = _example("resnet18"), (3, 448, 16)
    document = fields(net, shape)
    assert check_against_gradients(net, shape, document, units=1) >= len(document["nodes"])

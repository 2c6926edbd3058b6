"""`dlcli train resnet`: the CIFAR ResNet of He et al. (2016) against its layer-spec preset."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from conftest import assert_input_error  # noqa: E402
from conftest import cli as invoke  # noqa: E402

from dlcli.archs import arch_specs  # noqa: E402
from dlcli.calculators.featsize import chain_output  # noqa: E402
from dlcli.layers import parse_layers  # noqa: E402
from dlcli.training.families.resnet import ResNetConfig, build_resnet, layer_rows  # noqa: E402


def _main_path_sizes(model, x):
    """Output (C, H, W) of every main-path conv, recorded with forward hooks."""
    sizes = []
    hooks = [
        c.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
        for c in model.main_path_convs()
    ]
    model.eval()
    with torch.no_grad():
        logits = model(x)
    for h in hooks:
        h.remove()
    return sizes, logits


@pytest.mark.parametrize(
    ("depth", "width", "size", "channels"),
    [
        (20, 16, (8, 8), 1),
        (8, 4, (32, 32), 3),
        (14, 8, (7, 9), 3),
        (32, 4, (5, 5), 1),
    ],
)
def test_feature_maps_match_featsize_over_the_preset_chain(depth, width, size, channels):
    config = ResNetConfig(depth=depth, width=width)
    model = build_resnet(config, (channels, *size), 5)
    sizes, logits = _main_path_sizes(model, torch.randn(2, channels, *size))
    chain = chain_output(parse_layers(",".join(config.specs())), size, channels)
    assert sizes == [(layer.channels, *layer.output) for layer in chain.layers]
    assert logits.shape == (2, 5)
    # The main path's conv weights are exactly the parameters featsize counts (nobias convs).
    assert sum(c.weight.numel() for c in model.main_path_convs()) == chain.params


def test_the_receptive_field_preset_is_the_model():
    assert ResNetConfig(depth=20, width=16).specs() == arch_specs("resnet20")
    assert ResNetConfig(depth=56, width=16).specs() == arch_specs("resnet56")


def test_structure_identity_and_projection_shortcuts():
    model = build_resnet(ResNetConfig(depth=20, width=16), (1, 8, 8), 10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    # 19 convs on the main path + 2 projections; + 1 linear = depth 20 weighted layers on the path.
    assert len(model.main_path_convs()) == 19 and len(convs) == 21
    projections = [
        b
        for s in (model.stage1, model.stage2, model.stage3)
        for b in s
        if not isinstance(b.shortcut, torch.nn.Identity)
    ]
    assert len(projections) == 2  # where the width doubles and the size halves
    # CIFAR ResNet-20 with option-B projections: 0.27M parameters (He et al. quote 0.27M).
    assert 0.26e6 < sum(p.numel() for p in model.parameters()) < 0.28e6


def test_batch_norm_eval_mode_is_deterministic_per_sample():
    model = build_resnet(ResNetConfig(depth=8, width=4), (1, 8, 8), 3)
    x = torch.randn(6, 1, 8, 8)
    model.train()
    model(x)  # update running statistics
    model.eval()
    with torch.no_grad():
        whole = model(x)
        one = model(x[:1])
    torch.testing.assert_close(whole[:1], one)  # eval mode: no batch statistics


def test_random_shift_augments_in_training_only():
    """He et al.'s pad-and-crop: every training image is the input moved by at most size/8."""
    model = build_resnet(ResNetConfig(depth=8, width=4, augment=True), (1, 16, 16), 3)
    x = torch.randn(32, 1, 16, 16)
    model.train()
    torch.manual_seed(0)
    shifted = model.augment(x)
    pad = 2
    padded = torch.nn.functional.pad(x, (pad,) * 4, mode="replicate")
    for i in range(len(x)):
        crops = [padded[i, :, dy : dy + 16, dx : dx + 16] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(shifted[i], crop) for crop in crops)
    assert not torch.equal(shifted, x)
    model.eval()
    assert torch.equal(model.augment(x), x)
    plain = build_resnet(ResNetConfig(depth=8, width=4), (1, 16, 16), 3)  # augment: off by default
    assert isinstance(plain.augment, torch.nn.Identity)


def test_layer_rows_count_every_parameter():
    config = ResNetConfig(depth=20, width=16)
    rows = layer_rows(config, (1, 8, 8), 10)
    model = build_resnet(config, (1, 8, 8), 10)
    assert sum(r["params"] or 0 for r in rows) == sum(p.numel() for p in model.parameters())
    assert rows[1]["output"] == [16, 8, 8] and rows[-2]["output"] == [64]
    assert [r["output"] for r in rows if ".block1 " in r["layer"]] == [
        [16, 8, 8],
        [32, 4, 4],
        [64, 2, 2],
    ]


@pytest.mark.parametrize("depth", [7, 21, 2])
def test_bad_depth_is_an_input_error(depth):
    from dlcli.errors import InputError

    with pytest.raises(InputError, match="6n\\+2"):
        ResNetConfig(depth=depth)


# --- the CLI, on the shared engine ----------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory):
    """A 2-epoch ResNet-8 on digits: (run folder, --json document, stderr)."""

    out = tmp_path_factory.mktemp("runs") / "resnet"
    result = invoke(
        "train",
        "resnet",
        "--depth",
        "8",
        "--width",
        "8",
        "--epochs",
        "2",
        "--threads",
        "1",
        "--json",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout), result.stderr


def test_train_resnet_run_folder_and_table(resnet_run):
    out, doc, stderr = resnet_run
    assert doc["model"] == "resnet" and doc["epochs"] == 2 and doc["data"] == "digits"
    model = build_resnet(ResNetConfig(depth=8, width=8), (1, 8, 8), 10)
    assert doc["params"] == sum(p.numel() for p in model.parameters())
    assert doc["test_accuracy"] > 0.5  # two epochs already learn most digits
    for name in ("model.safetensors", "config.json", "history.csv", "curves.png"):
        assert (out / name).is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["model_config"] == {"depth": 8, "width": 8, "augment": False}
    assert config["train"]["optimizer"] == "sgd" and config["train"]["lr"] == 0.1
    assert config["layout"] == "image"
    # The per-layer table before training, with featsize's sizes (8x8 -> 4x4 -> 2x2).
    for fragment in ("stem conv3p1nobias-8", "stage2.block1", "+projection", "16x4x4", "32x2x2"):
        assert fragment in stderr, fragment


def test_evaluate_and_predict_a_resnet_run(resnet_run, tmp_path):

    out, doc, _ = resnet_run
    result = invoke("evaluate", out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accuracy"] == doc["test_accuracy"]  # eval-mode BN
    from dlcli.training.data import load_digits

    digits = load_digits()
    np.savez(tmp_path / "few.npz", x=digits.x[:5])
    result = invoke("predict", out, tmp_path / "few.npz", "--json")
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)["predictions"]
    assert len(predictions) == 5 and all(0 <= p["probability"] <= 1 for p in predictions)


def test_train_resnet_bad_depth_is_one_line_exit_2(tmp_path):

    result = invoke("train", "resnet", "--depth", "21", "--out", tmp_path / "r")
    assert_input_error(result, "21", "6n+2")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("arch", "depth"), [("resnet20", 20), ("cifar-resnet8", 8)])
def test_featsize_preset_describes_the_trained_model(arch, depth):
    """`dlcli featsize --arch resnet20` (or cifar-resnetN for any depth) prints the sizes the
    model's main path produces; receptive-field reads the same presets."""

    result = invoke("featsize", "8x8", "--arch", arch, "--in-channels", "1", "--json")
    assert result.exit_code == 0, result.output
    sizes = [tuple(layer["output"]) for layer in json.loads(result.stdout)["layers"]]
    model = build_resnet(ResNetConfig(depth=depth, width=16), (1, 8, 8), 10)
    hooked, _ = _main_path_sizes(model, torch.zeros(1, 1, 8, 8))
    assert sizes == [s[1:] for s in hooked]


def test_receptive_field_preset_matches_the_models_gradient():
    """Oracle: the input pixels that move one output unit of the last stage (autograd) are the
    field `dlcli receptive-field --arch cifar-resnet8` reports (Distill conventions)."""

    result = invoke("receptive-field", "--arch", "cifar-resnet8", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    field, stride, padding = (
        doc["receptive_field"][0],
        doc["effective_stride"][0],
        doc["effective_padding"][0],
    )
    model = build_resnet(ResNetConfig(depth=8, width=4), (1, 32, 32), 3).eval()
    with torch.no_grad():  # positive weights and inputs: every ReLU passes, no gradient hides
        for conv in model.modules():
            if isinstance(conv, torch.nn.Conv2d):
                conv.weight.fill_(1.0 / conv.weight[0].numel())
    x = torch.ones(1, 1, 32, 32, requires_grad=True)
    features = model.stage3(model.stage2(model.stage1(model.stem(x))))  # (1, 16, 8, 8)
    i = 4
    features[0, :, i, i].sum().backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    assert rows.min().item() == i * stride - padding
    assert rows.max().item() == i * stride - padding + field - 1


def test_train_resnet_on_an_rgb_image_folder_of_another_size(tmp_path):
    """Global average pooling: any image size; three channels from RGB files."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, colour in (("red", 0), ("blue", 2)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 60, size=(10, 14, 3), dtype=np.uint8)
            pixels[..., colour] += 180
            Image.fromarray(pixels).save(tmp_path / "photos" / name / f"{i}.png")
    out = tmp_path / "run"
    result = invoke(
        "train",
        "resnet",
        "--data",
        tmp_path / "photos",
        "--image-size",
        "10x14",
        "--depth",
        "8",
        "--width",
        "4",
        "--epochs",
        "3",
        "--threads",
        "1",
        "--json",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["input_shape"] == [3, 10, 14]
    assert "16x3x4" in result.stderr  # 10x14 -> 5x7 -> 3x4, as featsize computes it
    result = invoke("predict", out, tmp_path / "photos" / "red" / "0.png", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["predictions"][0]["class"] in ("red", "blue")

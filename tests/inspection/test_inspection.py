"""`featsize --model` / `dlcli.inspect_model`: every counting rule against a hand formula, whole
nets against `torch.utils.flop_counter.FlopCounterMode` (its FLOPs are 2 x MACs), parameters,
memory, `uncounted`, the rows, the JSON document, and the CLI (in-process and as a process)."""

from __future__ import annotations

import json
import math

import pytest
from conftest import ROOT, assert_input_error, run_dlcli

from dlcli.errors import InputError
from dlcli.inspection import inspect_model

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

MODELS = ROOT / "tests" / "models" / "tiny.py"


def out_size(size, kernel, stride, padding, dilation):
    """PyTorch's documented output length of a convolution (Conv2d's docs)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def meta(module):
    return module.to("meta")


@pytest.mark.parametrize(
    ("cin", "cout", "kernel", "stride", "padding", "dilation", "groups", "size"),
    [
        (3, 8, (3, 3), (1, 1), (1, 1), (1, 1), 1, (16, 16)),
        (4, 6, (3, 5), (2, 1), (1, 2), (2, 1), 2, (17, 13)),  # groups, dilation, non-square
        (8, 8, (3, 3), (1, 1), (1, 1), (1, 1), 8, (9, 9)),  # depthwise
        (6, 12, (1, 1), (2, 2), (0, 0), (1, 1), 3, (10, 7)),
    ],
)
def test_conv2d_macs_by_hand(cin, cout, kernel, stride, padding, dilation, groups, size):
    conv = nn.Conv2d(cin, cout, kernel, stride, padding, dilation, groups, device="meta")
    batch = 3
    r = inspect_model(conv, (cin, *size), batch=batch)
    h, w = (out_size(size[i], kernel[i], stride[i], padding[i], dilation[i]) for i in (0, 1))
    assert r.output == [batch, cout, h, w]
    assert r.macs == batch * cout * h * w * (cin // groups) * kernel[0] * kernel[1]
    assert r.params == cout * (cin // groups) * kernel[0] * kernel[1] + cout
    assert r.flops == 2 * r.macs + batch * cout * h * w  # the bias, added once per output
    assert r.uncounted == {}


def test_conv1d_and_conv3d_by_hand():
    r = inspect_model(nn.Conv1d(4, 8, 5, stride=2, dilation=2, device="meta"), (4, 40))
    length = out_size(40, 5, 2, 0, 2)
    assert r.macs == 8 * length * 4 * 5
    r = inspect_model(
        nn.Conv3d(2, 4, (3, 3, 2), padding=1, bias=False, device="meta"), (2, 5, 6, 7)
    )
    d, h, w = out_size(5, 3, 1, 1, 1), out_size(6, 3, 1, 1, 1), out_size(7, 2, 1, 1, 1)
    assert r.macs == 4 * d * h * w * 2 * 3 * 3 * 2 and r.flops == 2 * r.macs


@pytest.mark.parametrize(
    ("cin", "cout", "kernel", "stride", "padding", "out_pad", "groups", "dilation"),
    [
        (4, 6, 3, 2, 1, 1, 2, 1),
        (8, 4, (4, 3), (2, 3), (1, 0), (0, 2), 1, (1, 2)),
        (3, 5, 2, 2, 0, 0, 1, 1),
    ],
)
def test_transposed_conv_one_mac_per_input_pixel_and_weight(
    cin, cout, kernel, stride, padding, out_pad, groups, dilation
):
    conv = nn.ConvTranspose2d(
        cin, cout, kernel, stride, padding, out_pad, groups, dilation=dilation, device="meta"
    )
    h, w, batch = 7, 5, 2
    r = inspect_model(conv, (cin, h, w), batch=batch)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    # every input value meets each weight of its group once: (C_out / groups) x kernel of them
    assert r.macs == batch * cin * h * w * (cout // groups) * kh * kw


def test_linear_and_matmul_by_hand():
    r = inspect_model(nn.Linear(20, 7, device="meta"), (5, 20), batch=3)  # (B, T, F) input
    assert r.macs == 3 * 5 * 20 * 7 and r.params == 20 * 7 + 7

    class MatMul(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.empty(6, 9))

        def forward(self, x):  # (B, n, 6) @ (6, 9), then a batched product with itself
            y = x @ self.w
            return torch.matmul(y, y.transpose(1, 2)) + torch.bmm(y, y.transpose(1, 2))

    r = inspect_model(meta(MatMul()), (4, 6), batch=2)
    assert r.macs == 2 * 4 * 6 * 9 + 2 * (2 * 4 * 9 * 4)
    names = [row.name for row in r.layers]
    assert names == ["matmul()", "transpose()", "matmul()", "transpose()", "bmm()", "add()"]


def test_attention_by_hand():
    class Attention(nn.Module):
        def forward(self, x):  # x (B, H, L, E); keys of another length S and values of width Ev
            k = x[:, :, :5].repeat(1, 1, 2, 1)  # (B, H, 10, E)
            v = torch.cat([k, k[..., :3]], dim=-1)  # (B, H, 10, E + 3)
            return F.scaled_dot_product_attention(x, k, v)

    b, h, length, e = 2, 3, 7, 8
    r = inspect_model(Attention(), (h, length, e), batch=b)
    assert r.output == [b, h, length, e + 3]
    assert r.macs == b * h * length * 10 * e + b * h * length * 10 * (e + 3)


def test_multihead_attention_by_hand():
    embed, heads, length, batch = 16, 4, 9, 2
    mha = nn.MultiheadAttention(embed, heads, batch_first=True, device="meta")

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    r = inspect_model(SelfAttention(), (length, embed), batch=batch)
    projections = 4 * batch * length * embed * embed  # q, k, v in, then out
    attention = 2 * batch * length * length * embed  # all heads: L*S*(E/h) twice, h times
    assert r.macs == projections + attention


def small_nets():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(8, 8, 3, padding=1)
            self.b = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4)

        def forward(self, x):
            return torch.relu(self.b(torch.relu(self.a(x))) + x)

    class UNetish(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.Conv2d(3, 8, 4, stride=2, padding=1)
            self.res = Residual()
            self.up = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
            self.head = nn.Conv2d(7, 2, 1)

        def forward(self, x):
            y = self.up(self.res(self.down(x)))
            y = torch.cat([y, x], 1) * 0.5
            return self.head(F.interpolate(y, scale_factor=2, mode="bilinear"))

    encoder = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, dropout=0.0),
        2,
        enable_nested_tensor=False,
    )
    return [
        (UNetish(), (3, 20, 24)),
        (encoder, (11, 32)),
        (nn.Sequential(nn.Conv1d(2, 6, 5), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3)), (2, 30)),
        (nn.GRU(8, 16, batch_first=True), (10, 8)),
    ]


@pytest.mark.parametrize("index", range(4))
def test_whole_nets_against_flop_counter(index):
    from torch.utils.flop_counter import FlopCounterMode

    module, shape = small_nets()[index]
    module.eval()
    with torch.no_grad():
        module(torch.zeros(2, *shape))  # materialise LazyLinear
    module.to("meta")  # on meta, attention takes the math path, which the counter sees
    counter = FlopCounterMode(display=False)
    with counter:  # with autograd on: no fused inference fast path that the counter cannot see
        module(torch.zeros(2, *shape, device="meta"))
    r = inspect_model(module, shape, batch=2)
    assert 2 * r.macs == counter.get_total_flops() > 0
    assert r.uncounted == {}


def test_parameters_each_tensor_once_and_bytes():
    r = inspect_model(f"{MODELS}:Tied", "5")
    assert r.params == 25 and r.param_bytes == 100
    assert any("encode.weight = decode.weight" in n for n in r.notes)
    module = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).to(
        device="meta", dtype=torch.float16
    )
    module[0].weight.requires_grad_(False)
    r = inspect_model(module, (4,))
    assert (r.params, r.trainable_params) == (28, 12)
    assert r.param_bytes == 28 * 2 and r.buffers == 4 + 4 + 1


def test_activation_bytes_and_peak_by_hand():
    model = meta(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
    r = inspect_model(model, (4,), batch=3)
    # outputs: 3x8 (linear), 3x8 (relu), 3x2 (linear), float32; the first dies after relu
    assert r.activation_bytes == 4 * (24 + 24 + 6)
    assert r.activation_peak_bytes == 4 * (24 + 24)
    inplace = meta(nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 2)))
    r = inspect_model(inplace, (4,), batch=3)
    assert r.activation_bytes == 4 * (24 + 6) and r.activation_peak_bytes == 4 * (24 + 6)


def test_uncounted_ops_are_listed_never_silent():
    class Odd(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, 1) + torch.cumsum(x, 1).sort(1).values

    r = inspect_model(Odd(), (6,))
    assert r.uncounted == {"cumsum": 2, "sort": 1}


def test_rows_depth_and_functional_calls():
    r = inspect_model(f"{MODELS}:Net(classes=4)", "3x8x8")
    assert [(row.name, row.type) for row in r.layers] == [
        ("stem", "Conv2d"),
        ("block", "Block"),
        ("interpolate()", "function"),
        ("mean()", "function"),
        ("head", "Linear"),
        ("matmul()", "function"),
    ]
    assert sum(row.macs for row in r.layers) == r.macs  # every op lands in one row
    every = inspect_model(f"{MODELS}:Net(classes=4)", "3x8x8", depth="all")
    names = [row.name for row in every.layers]
    assert names[:6] == ["stem", "block", "block.conv", "block.bn", "block.add()", "block.relu()"]
    block = next(row for row in every.layers if row.name == "block")
    assert block.macs == 8 * 8 * 8 * 8 * 9 and block.params == 8 * 8 * 9 + 8 + 16
    assert block.output == [1, 8, 8, 8]


def test_the_model_is_not_changed():
    model = meta(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5)))
    model.train()
    model[1].eval()
    inspect_model(model, (3, 8, 8))
    assert [m.training for m in model] == [True, False, True]
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(p.device.type == "meta" for p in model.parameters())


def test_json_document_exact_keys(invoke):
    result = invoke("featsize", "--model", f"{MODELS}:Net", "--input", "3x8x8", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc) == [
        "model",
        "input",
        "output",
        "params",
        "trainable_params",
        "buffers",
        "param_bytes",
        "macs",
        "flops",
        "activation_bytes",
        "activation_peak_bytes",
        "uncounted",
        "layers",
    ]
    assert doc["input"] == [1, 3, 8, 8] and doc["output"] == [1, 10]
    assert all(list(row) == ["name", "type", "output", "params", "macs"] for row in doc["layers"])
    assert doc == inspect_model(f"{MODELS}:Net", "3x8x8").to_dict()


def test_table_and_batch(invoke):
    result = invoke(
        "featsize", "--model", f"{MODELS}:Net(classes=3)", "-i", "3x8x8", "--batch", "4"
    )
    assert result.exit_code == 0, result.output
    # the title holds the model's path, which may wrap the table's width: compare unwrapped
    assert "4x3x8x8 -> 4x3" in " ".join(result.stdout.split())
    for label in ("params", "MACs", "FLOPs", "activation peak", "interpolate()"):
        assert label in result.stdout
    macs = inspect_model(f"{MODELS}:Net(classes=3)", "3x8x8", batch=4).macs
    assert f"{macs:,}" in result.stdout


def test_run_folder_gives_the_input(mlp_run, invoke):
    folder, _ = mlp_run
    result = invoke("featsize", "--model", str(folder), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["input"] == [1, 64] and doc["output"] == [1, 10]
    assert doc["params"] == sum(
        a * b + b for a, b in zip([64, 128, 64], [128, 64, 10], strict=True)
    )


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--model", f"{MODELS}:Nett", "--input", "3x8x8"], ["did you mean Net"]),
        (["--model", f"{MODELS}:broken", "--input", "3x8x8"], ["in 'head' (Linear)", "3x8x8"]),
        (["--model", f"{MODELS}:Net"], ["--input"]),
        (["--model", f"{MODELS}:Net", "--input", "3x8x8", "--depth", "0"], ["--depth"]),
        (["--model", f"{MODELS}:Net", "--input", "3x8x8", "--batch", "0"], ["--batch"]),
        (["32", "--model", f"{MODELS}:Net", "--input", "3x8x8"], ["--model"]),
        (["32", "-k", "3", "--input", "3x8x8"], ["--input goes with --model"]),
    ],
)
def test_cli_errors(invoke, args, fragments):
    assert_input_error(invoke("featsize", *args), *fragments)


def test_subprocess_json_and_error():
    done = run_dlcli(
        "featsize", "--model", f"{MODELS}:Net(classes=2)", "--input", "3x8x8", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output"] == [1, 2]
    done = run_dlcli("featsize", "--model", "no_such_module_x:Net", "--input", "3x8x8")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "not found" in done.stderr


def test_library_accepts_a_module_and_rejects_bad_input():
    r = inspect_model(nn.Linear(3, 2, device="meta"), "3")
    assert r.macs == 6 and math.isclose(r.flops, 2 * 6 + 2)
    with pytest.raises(InputError, match="--input"):
        inspect_model(nn.Linear(3, 2, device="meta"))

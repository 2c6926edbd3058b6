"""`dlcli features`: a run's penultimate-layer activations, checked against a forward hook on
the final classifier layer of the run's own model (plain PyTorch) and against the run's logits;
the labelled .npz trains a linear classifier, and the README's claim runs at full length."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
import torch
from conftest import ROOT, assert_input_error, cli, readme_commands

import dlcli
from dlcli.training.data.arrays import read_npz
from dlcli.training.data.dataset import class_names_of, encode_labels
from dlcli.training.data.split import split_indices
from dlcli.training.evaluate import load_run
from dlcli.training.runs.spec import load_split

MODELS = ROOT / "tests" / "models" / "tiny.py"
# run -> (train arguments, the final classifier layer of its model, named by hand)
FAMILIES = {
    "mlp": (["mlp", "--hidden", "16,12"], lambda m: m[-1]),
    "mlp-linear": (["mlp", "--hidden", "0"], lambda m: m[-1]),
    "cnn": (["cnn"], lambda m: m[-1]),
    "resnet": (["resnet", "--depth", "8", "--width", "4"], lambda m: m.fc),
    "lstm": (["lstm", "--hidden-size", "12"], lambda m: m.fc),
    "custom": (["custom", "--model", f"{MODELS}:Flat(hidden=16)"], lambda m: m.body[2]),
    # its last nn.Linear is followed by a matrix product: features still its input, but the
    # logits are not features @ W.T + b
    "custom-mixed": (["custom", "--model", f"{MODELS}:Net(in_channels=1, width=6)"], None),
}


@pytest.fixture(scope="module", params=list(FAMILIES))
def family_run(request, tmp_path_factory):
    args, layer = FAMILIES[request.param]
    out = tmp_path_factory.mktemp("runs") / request.param
    result = cli("train", *args, "--epochs", "1", "--threads", "1", "--json", "--out", out)
    assert result.exit_code == 0, result.output
    return out, layer or (lambda m: m.head), layer is not None


def test_features_are_the_classifier_input_and_give_the_logits(family_run, tmp_path):
    out, pick, final = family_run
    loaded = load_run(out, "cpu")
    spec = loaded.spec
    dataset, _ = load_split(spec)
    x = np.asarray(dataset.x[:40])
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, x=x)
    target = tmp_path / "feats.npy"
    result = cli("features", out, inputs, "-o", target, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    feats = np.load(target)
    assert feats.dtype == np.float32 and list(feats.shape) == doc["shape"] == [40, feats.shape[1]]
    assert doc["path"] == str(target) and doc["n"] == 40

    # oracle: a forward hook on the final classifier layer of the run's own model
    model, layer = loaded.model, pick(loaded.model)
    seen = []
    handle = layer.register_forward_hook(lambda m, args, output: seen.append(args[0]))
    with torch.no_grad():
        logits = model(torch.from_numpy(spec.preprocess(x)))
    handle.remove()
    np.testing.assert_allclose(feats, seen[0].numpy(), rtol=1e-5, atol=1e-5)
    if not final:
        return
    # features times the final layer's weights plus bias are the run's logits, so predict's
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    np.testing.assert_allclose(feats @ w.T + b, logits.numpy(), rtol=1e-4, atol=1e-4)
    probs = torch.softmax(torch.from_numpy(feats @ w.T + b), dim=1).numpy()
    predicted = json.loads(cli("predict", out, inputs, "--json").stdout)["predictions"]
    assert [p["class"] for p in predicted] == [spec.class_names[i] for i in probs.argmax(1)]
    np.testing.assert_allclose([p["probability"] for p in predicted], probs.max(1), atol=1e-5)
    if spec.model == "mlp" and spec.model_config.hidden == ():  # --hidden 0: the input itself
        np.testing.assert_allclose(feats, spec.preprocess(x).reshape(40, -1), atol=1e-6)
    # the library returns the same array
    same = dlcli.features(out, inputs)
    np.testing.assert_array_equal(same.features, feats)
    assert same.path is None and same.layer == doc["layer"]


def test_splits_of_the_runs_own_data(family_run, tmp_path):
    out, _, final = family_run
    if not final:
        return
    loaded = load_run(out, "cpu")
    spec = loaded.spec
    dataset, prepared = load_split(spec)
    test = dlcli.features(out, data=spec.data.source, split="test")
    assert test.n == len(prepared.y_test)
    assert test.labels == [spec.class_names[i] for i in prepared.y_test]
    scores = test.features @ pick_weights(loaded.model).T
    # the run's test accuracy back from the features (bias added)
    ev = dlcli.evaluate(out)
    acc = float(np.mean((scores + pick_bias(loaded.model)).argmax(1) == prepared.y_test))
    assert acc == pytest.approx(ev.accuracy, abs=1e-9)
    target = tmp_path / "all.npz"
    whole = dlcli.features(out, data=spec.data.source, split="all", output=target)
    x, labels = read_npz(target)
    assert x.shape == whole.features.shape == (len(dataset.y), whole.features.shape[1])
    with np.load(target) as archive:
        assert archive["classes"].tolist() == spec.class_names


def pick_weights(model):
    from dlcli.training.features import classifier_layer

    return classifier_layer(model)[1].weight.detach().numpy()


def pick_bias(model):
    from dlcli.training.features import classifier_layer

    return classifier_layer(model)[1].bias.detach().numpy()


def test_the_npz_split_is_the_runs_split_with_class_names_out_of_order(tmp_path):
    """Class names whose sorted order is not the run's keep it through indices in y, so that a
    run on the features splits exactly as the network's run did (no test sample leaks)."""
    rng = np.random.default_rng(0)
    names = np.array(["zebra", "ant", "moth"])
    y = rng.integers(0, 3, 90)
    x = (rng.normal(size=(90, 4)) + y[:, None]).astype(np.float32)
    data = tmp_path / "animals.npz"
    np.savez(data, x=x, y=names[y])  # the run's classes come back sorted: ant, moth, zebra
    out = tmp_path / "run"
    assert cli("train", "mlp", "--data", data, "--epochs", "1", "--out", out).exit_code == 0
    spec = load_run(out, "cpu").spec
    target = tmp_path / "feats.npz"
    dlcli.features(out, data=str(data), output=target)
    _, labels = read_npz(target)
    assert labels is not None
    run_y = encode_labels([str(v) for v in names[y]], spec.class_names, data)
    feats_y = encode_labels(labels, class_names_of(labels), target)
    fractions = (spec.data.test_fraction, spec.data.val_fraction, spec.train.seed)
    a = split_indices(run_y, *fractions)
    b = split_indices(feats_y, *fractions)
    assert all(np.array_equal(getattr(a, p), getattr(b, p)) for p in ("train", "val", "test"))


def test_errors(mlp_run, tmp_path):
    out, _ = mlp_run
    assert_input_error(cli("features", out, "--data", "digits", "-o", tmp_path / "f.npy"), ".npz")
    npz = tmp_path / "in.npz"
    np.savez(npz, x=np.zeros((2, 64), np.float32))
    assert_input_error(cli("features", out, npz, "-o", tmp_path / "f.npz"), ".npy")
    assert_input_error(cli("features", out, "-o", tmp_path / "f.npy"), "--data")
    assert_input_error(
        cli("features", out, npz, "--data", "digits", "-o", tmp_path / "f.npz"), "not both"
    )
    assert_input_error(
        cli("features", out, "--data", str(npz), "--split", "test", "-o", tmp_path / "f.npz"),
        "--split",
    )
    assert_input_error(cli("features", out, npz, "-o", tmp_path / "no" / "f.npy"), "not exist")
    assert cli("features", out, npz).exit_code == 2  # -o is required
    assert not list(tmp_path.glob("f.*"))


def test_custom_model_without_a_linear_layer(tmp_path):
    model = tmp_path / "conv.py"
    model.write_text(
        "from torch import nn\n\n"
        "def Net():\n"
        "    return nn.Sequential(nn.Conv2d(1, 10, 8), nn.Flatten())\n"
    )
    out = tmp_path / "run"
    trained = cli("train", "custom", "--model", f"{model}:Net", "--epochs", "1", "--out", out)
    assert trained.exit_code == 0, trained.output
    npz = tmp_path / "in.npz"
    np.savez(npz, x=np.zeros((2, 1, 8, 8), np.float32))
    assert_input_error(cli("features", out, npz, "-o", tmp_path / "f.npy"), "no nn.Linear")


def test_readme_resnet_features_train_a_linear_classifier(tmp_path, monkeypatch):
    """The lesson's claim at the README's length: a ResNet trained on the digits, its pooled
    features extracted, and a linear classifier on them reaches >= 0.95 test accuracy on the
    network's own test split (the same seed and fractions make the same split)."""
    monkeypatch.chdir(tmp_path)
    commands = readme_commands("features")
    assert len(commands) == 3
    docs = []
    for line in commands:
        result = cli(*shlex.split(line)[1:], "--json")
        assert result.exit_code == 0, result.output
        docs.append(json.loads(result.stdout))
    resnet, feats, linear = docs
    assert feats["shape"][0] == resnet["n_train"] + resnet["n_val"] + resnet["n_test"]
    assert linear["n_test"] == resnet["n_test"] and linear["test_accuracy"] >= 0.95
    spec = load_run(tmp_path / resnet["out"], "cpu").spec
    dataset, _ = load_split(spec)
    _, labels = read_npz(tmp_path / feats["path"])
    assert labels is not None
    fractions = (spec.data.test_fraction, spec.data.val_fraction, spec.train.seed)
    a = split_indices(dataset.y, *fractions)
    b = split_indices(encode_labels(labels, class_names_of(labels), "f"), *fractions)
    assert np.array_equal(a.test, b.test)
    print(f"resnet test {resnet['test_accuracy']:.4f}, linear test {linear['test_accuracy']:.4f}")


def test_an_official_test_set_is_kept(tmp_path):
    """Data with an official test set (the named datasets; here an .npz's `test` rows) gives
    features whose .npz keeps it: a run on them tests on exactly the network's test rows."""
    from dlcli.training.data.arrays import load_npz

    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 40)
    x = (rng.normal(size=(120, 6)) + y[:, None]).astype(np.float32)
    test = np.arange(0, 120, 7)  # not what a stratified fraction would pick
    data = tmp_path / "official.npz"
    np.savez(data, x=x, y=y, test=test)
    out = tmp_path / "run"
    trained = cli("train", "mlp", "--data", data, "--epochs", "1", "--json", "--out", out)
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["n_test"] == len(test)
    target = tmp_path / "feats.npz"
    dlcli.features(out, data=str(data), output=target)
    spec = load_run(out, "cpu").spec
    fractions = (spec.data.test_fraction, spec.data.val_fraction, spec.train.seed)
    a, b = load_npz(data), load_npz(target)
    assert np.array_equal(b.fixed_test, test)
    first, second = (
        split_indices(a.y, *fractions, a.fixed_test),
        split_indices(b.y, *fractions, b.fixed_test),
    )
    assert all(np.array_equal(getattr(first, p), getattr(second, p)) for p in ("train", "val"))
    assert np.array_equal(first.test, test) and np.array_equal(second.test, test)
    np.savez(data, x=x, y=y, test=np.array([0, 500]))
    assert_input_error(
        cli("train", "mlp", "--data", data, "--epochs", "1", "--out", tmp_path / "bad"),
        "array 'test'",
    )

"""Pretrained weights (models/pretrained.py), proved without network.

Random state dicts in torchvision/timm layout (tests/models/torch_layouts.py) are written as safetensors
files; keras-hub's own timm converters read the same files (`Backbone.from_preset(dir)`), and our builders
load them with `weights=PATH`. Features must agree with keras-hub's and logits with the head applied in
NumPy the PyTorch way (NCHW flatten for VGG), to 1e-5 relative to the output's scale.
"""

import sys
from pathlib import Path

import keras
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import torch_layouts as tl

from vras_keras import models
from vras_keras.models import pretrained

SIZE = 64
FC = 64  # VGG tests use the generic `vgg(fc_units=64)`: the head's code path without 4096² random weights


def _vgg(arch, **kwargs):
    from vras_keras.models.classification.vgg import CONFIGS, vgg

    return vgg(convs_per_block=CONFIGS[arch], input_shape=(SIZE, SIZE, 3), fc_units=FC, name=arch, **kwargs)


def _images(size=SIZE, n=2):
    return np.random.default_rng(1).uniform(0, 255, (n, size, size, 3)).astype("float32")


def _normalised(x):
    return ((x / 255.0 - np.array(pretrained.IMAGENET_MEAN)) / np.array(pretrained.IMAGENET_STD)).astype("float32")


def _close(actual, expected, rtol=1e-5):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    assert float(np.abs(actual - expected).max()) <= rtol * scale, (np.abs(actual - expected).max(), scale)


def _features(model, layer_name, x):
    sub = keras.Model(model.inputs[0], model.get_layer(layer_name).input)
    return keras.ops.convert_to_numpy(sub(x, training=False))


def _hub_backbone(tmp_path, arch, state):
    import keras_hub

    return keras_hub.models.Backbone.from_preset(str(tl.write_timm_preset(tmp_path / "preset", arch, state)))


RESNET_DEFAULT = ["resnet18", "resnet50"]
RESNET_SLOW = ["resnet34", "resnet101", "resnet152"]


@pytest.mark.parametrize("arch", RESNET_DEFAULT + [pytest.param(a, marks=pytest.mark.slow) for a in RESNET_SLOW])
def test_resnet_matches_keras_hub_timm_converter(tmp_path, arch):
    state = tl.resnet_state(arch)
    hub = _hub_backbone(tmp_path, arch, state)
    ours = models.get(arch, input_shape=(SIZE, SIZE, 3), weights=str(tmp_path / "preset" / "model.safetensors"))
    assert ours.weights_report.new_layers == ()
    assert ours.weights_report.matched == ours.weights_report.total
    x = _images()
    features = _features(ours, "avg_pool", x)
    _close(features, keras.ops.convert_to_numpy(hub(_normalised(x))))
    logits = keras.ops.convert_to_numpy(ours(x, training=False))
    _close(logits, features.mean(axis=(1, 2)) @ state["fc.weight"].T + state["fc.bias"])


@pytest.mark.slow
def test_wide_resnet50_2_from_torchvision_layout(tmp_path):
    # keras-hub has no Wide ResNet: the layout (resnet50's, bottleneck 3×3 convs twice as wide) is generated
    # from torchvision's definition; every tensor must land on the layer our map names, transposed.
    state = tl.resnet_state("wide_resnet50_2")
    path = tl.write_safetensors(tmp_path / "w.safetensors", state)
    ours = models.get("wide_resnet50_2", input_shape=(32, 32, 3), weights=str(path))
    assert ours.weights_report.matched == ours.weights_report.total == 267  # 53 convs, 53 BNs × 4, fc
    kernel = keras.ops.convert_to_numpy(ours.get_layer("stage3_block2_conv2_conv").kernel)
    np.testing.assert_array_equal(kernel, np.transpose(state["layer2.1.conv2.weight"], (2, 3, 1, 0)))
    assert kernel.shape == (3, 3, 256, 256)


def test_resnet_new_head_and_headless_report(tmp_path):
    state = tl.resnet_state("resnet18")
    path = str(tl.write_safetensors(tmp_path / "r18.safetensors", state))
    ten = models.get("resnet18", input_shape=(SIZE, SIZE, 3), num_classes=10, weights=path)
    assert ten.weights_report.new_layers == ("logits",)
    assert ten.weights_report.matched == ten.weights_report.total - 2
    assert "new (randomly initialised): logits" in str(ten.weights_report)
    full = models.get("resnet18", input_shape=(SIZE, SIZE, 3), weights=path)
    x = _images()
    _close(_features(ten, "avg_pool", x), _features(full, "avg_pool", x))
    headless = models.get("resnet18", input_shape=(SIZE, SIZE, 3), include_top=False, weights=path)
    assert "no head" in str(headless.weights_report)
    _close(keras.ops.convert_to_numpy(headless(x, training=False)), _features(full, "avg_pool", x))


@pytest.mark.parametrize("arch", ["vgg11", pytest.param("vgg13", marks=pytest.mark.slow),
                                  pytest.param("vgg16", marks=pytest.mark.slow),
                                  pytest.param("vgg19", marks=pytest.mark.slow)])
@pytest.mark.parametrize("layout", ["timm", "torchvision"])
def test_vgg_matches_keras_hub_and_pytorch_head(tmp_path, arch, layout):
    side = SIZE // 32  # a 2×2 pool5: the flatten order (NCHW in PyTorch, NHWC here) matters
    state = tl.vgg_state(arch, layout=layout, pool5_side=side, fc_units=FC)
    hub = _hub_backbone(tmp_path, arch, state)
    ours = _vgg(arch, weights=str(tmp_path / "preset" / "model.safetensors"))
    assert ours.weights_report.matched == ours.weights_report.total
    x = _images()
    pool5 = _features(ours, "flatten", x)
    _close(pool5, keras.ops.convert_to_numpy(hub(_normalised(x))))
    _close(keras.ops.convert_to_numpy(ours(x, training=False)), _vgg_head_reference(state, pool5, layout))


def _vgg_head_reference(state, pool5, layout):
    flat = np.transpose(pool5, (0, 3, 1, 2)).reshape(len(pool5), -1)  # PyTorch flattens NCHW
    if layout == "timm":
        w1 = state["pre_logits.fc1.weight"].reshape(len(state["pre_logits.fc1.bias"]), -1)
        w2, w3 = state["pre_logits.fc2.weight"][:, :, 0, 0], state["head.fc.weight"]
        b1, b2, b3 = state["pre_logits.fc1.bias"], state["pre_logits.fc2.bias"], state["head.fc.bias"]
    else:
        w1, b1, w2, b2, w3, b3 = (state[f"classifier.{i}.{s}"] for i in (0, 3, 6) for s in ("weight", "bias"))
    hidden = np.maximum(np.maximum(flat @ w1.T + b1, 0) @ w2.T + b2, 0)
    return hidden @ w3.T + b3


def test_vgg_bn_torchvision_layout_with_and_without_conv_bias(tmp_path):
    # keras-hub has no VGG-BN converter. torchvision's vgg*_bn keeps a conv bias before each BN:
    # conv_bias=True loads it as is (torchvision's parameter count), the default bias-free layout folds it
    # into the BN moving mean; both must compute the same function, in inference and in training mode.
    state = tl.vgg_state("vgg11", batch_norm=True, pool5_side=SIZE // 32, fc_units=FC)
    path = str(tl.write_safetensors(tmp_path / "vgg11_bn.safetensors", state))
    exact = _vgg("vgg11", batch_norm=True, conv_bias=True, weights=path, dropout_rate=0.0)
    folded = _vgg("vgg11", batch_norm=True, weights=path, dropout_rate=0.0)
    assert exact.weights_report.matched == exact.weights_report.total
    assert folded.weights_report.matched == folded.weights_report.total
    assert exact.count_params() - folded.count_params() == 64 + 128 + 2 * 256 + 4 * 512  # 2,752 conv biases
    x = _images()
    for training in (False, True):
        _close(keras.ops.convert_to_numpy(folded(x, training=training)),
               keras.ops.convert_to_numpy(exact(x, training=training)), rtol=1e-4 if training else 1e-5)
    pool5 = _features(exact, "flatten", x)
    _close(keras.ops.convert_to_numpy(exact(x, training=False)), _vgg_head_reference(state, pool5, "torchvision"))
    # features.{n}: the second conv of block 3 is module 11 (conv, BN, ReLU per conv; one pool per block)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(exact.get_layer("block3_conv2_conv").bias),
                                  state["features.11.bias"])


@pytest.mark.slow
def test_vgg_bn_conv_bias_gives_torchvision_parameter_count():
    # torchvision 0.20 vgg11_bn: 132,868,840 parameters (conv biases included); BN moving statistics are
    # buffers there and non-trainable here.
    model = models.get("vgg11", batch_norm=True, conv_bias=True)
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    assert trainable == 132_868_840
    assert (
        trainable - int(sum(np.prod(v.shape) for v in models.get("vgg11", batch_norm=True).trainable_weights)) == 2752
    )


@pytest.mark.parametrize("arch", ["densenet121", pytest.param("densenet169", marks=pytest.mark.slow),
                                  pytest.param("densenet201", marks=pytest.mark.slow)])
def test_densenet_matches_keras_hub_after_the_stem_and_pytorch_stem(tmp_path, arch):
    # keras-hub's DenseNet pads its stem conv and pool TensorFlow-style ("same": bottom/right only), so its
    # port of torchvision's weights is off by that padding; ours pads as PyTorch does. The stem is checked
    # against PyTorch's arithmetic written with explicit padding, the rest against keras-hub fed our stem.
    import tensorflow as tf

    state = tl.densenet_state(arch)
    hub = _hub_backbone(tmp_path, arch, state)
    ours = models.get(arch, input_shape=(SIZE, SIZE, 3), weights=str(tmp_path / "preset" / "model.safetensors"))
    assert ours.weights_report.matched == ours.weights_report.total
    x = _images()
    # stem: conv 7×7/2 pad 3 -> BN -> ReLU -> max-pool 3×3/2 pad 1 (with -inf), as torch.nn does
    conv = tf.nn.conv2d(_normalised(x), np.transpose(state["features.conv0.weight"], (2, 3, 1, 0)), 2,
                        [[0, 0], [3, 3], [3, 3], [0, 0]]).numpy()
    bn = {k: state[f"features.norm0.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
    y = np.maximum((conv - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-5) * bn["weight"] + bn["bias"], 0)
    y = np.pad(y, [(0, 0), (1, 1), (1, 1), (0, 0)], constant_values=-np.inf)
    stem = tf.nn.max_pool2d(y, 3, 2, "VALID").numpy()
    ours_stem = keras.ops.convert_to_numpy(keras.Model(ours.inputs[0], ours.get_layer("pool1").output)(x))
    _close(ours_stem, stem)
    hub_rest = keras.Model(hub.get_layer("pool1").output, hub.output)
    features = _features(ours, "avg_pool", x)
    _close(features, keras.ops.convert_to_numpy(hub_rest(ours_stem)))
    logits = keras.ops.convert_to_numpy(ours(x, training=False))
    _close(logits, features.mean(axis=(1, 2)) @ state["classifier.weight"].T + state["classifier.bias"])


def test_wrong_width_and_wrong_family_raise_naming_the_key(tmp_path):
    path = str(tl.write_safetensors(tmp_path / "r18.safetensors", tl.resnet_state("resnet18")))
    with pytest.raises(ValueError, match=r"'conv1.weight' has shape \(64, 3, 7, 7\).*width=1.0"):
        models.get("resnet18", input_shape=(SIZE, SIZE, 3), width=0.5, weights=path)
    with pytest.raises(ValueError, match="resnet34.*has no 'layer1.2.conv1.weight'"):
        models.get("resnet34", input_shape=(SIZE, SIZE, 3), weights=path)
    with pytest.raises(ValueError, match="not use"):
        models.get("resnet18", input_shape=(SIZE, SIZE, 3), weights=str(
            tl.write_safetensors(tmp_path / "r34.safetensors", tl.resnet_state("resnet34"))))


def test_vgg_imagenet_head_needs_224_input(tmp_path):
    path = str(tl.write_safetensors(tmp_path / "v.safetensors", tl.vgg_state("vgg11", layout="timm", fc_units=16)))
    with pytest.raises(ValueError, match="224×224 input"):
        models.get("vgg11", input_shape=(SIZE, SIZE, 3), weights=path)


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "keras_home" / "vras_keras" / "weights"


def test_imagenet_without_network_fails_with_one_line(offline_cache):
    with pytest.raises(FileNotFoundError) as info:
        models.get("resnet18", input_shape=(SIZE, SIZE, 3), weights="imagenet")
    message = str(info.value)
    assert "\n" not in message
    assert "hf://timm/resnet18.tv_in1k" in message
    assert "https://huggingface.co/timm/resnet18.tv_in1k/resolve/main/model.safetensors" in message
    assert str(offline_cache / "resnet18.tv_in1k.safetensors") in message


def test_imagenet_without_network_fails_fast_without_hub_retries(tmp_path, monkeypatch):
    """No HF_HUB_OFFLINE and no network: one connection attempt (the probe), then the same one-line error;
    the hub's retry loop is never entered."""
    import socket

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    for name in ("HF_HUB_OFFLINE", "HF_ENDPOINT", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    attempts = []

    def blocked(*args, **kwargs):
        attempts.append(args[:2])
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (network blocked by the test)")

    monkeypatch.setattr(socket, "getaddrinfo", blocked)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: blocked(*address))
    with pytest.raises(FileNotFoundError) as info:
        models.get("resnet18", input_shape=(SIZE, SIZE, 3), weights="imagenet")
    message = str(info.value)
    assert attempts == [("huggingface.co", 443)]
    assert "\n" not in message
    assert "cannot reach huggingface.co:443" in message and "network blocked by the test" in message
    assert "https://huggingface.co/timm/resnet18.tv_in1k/resolve/main/model.safetensors" in message
    assert str(tmp_path / "keras_home" / "vras_keras" / "weights" / "resnet18.tv_in1k.safetensors") in message


def test_hub_probe_goes_to_the_https_proxy_unless_no_proxy(monkeypatch):
    for name in ("HF_ENDPOINT", "https_proxy", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert pretrained._hub_address() == ("proxy.example", 3128)
    monkeypatch.setenv("NO_PROXY", "localhost,.huggingface.co")
    assert pretrained._hub_address() == ("huggingface.co", 443)
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example:8080")
    assert pretrained._hub_address() == ("mirror.example", 8080)


def test_imagenet_uses_a_file_placed_in_the_cache(offline_cache):
    state = tl.resnet_state("resnet18")
    offline_cache.mkdir(parents=True)
    tl.write_safetensors(offline_cache / "resnet18.tv_in1k.safetensors", state)
    model = models.get("resnet18", input_shape=(SIZE, SIZE, 3), weights="imagenet")
    assert model.weights_report.source == "hf://timm/resnet18.tv_in1k"
    assert model.weights_report.matched == model.weights_report.total
    # the model still takes 0..255 pixels: its rescale layer applies ImageNet's mean/std
    rescale = keras.ops.convert_to_numpy(keras.Model(model.inputs[0], model.get_layer("rescale").output)(
        np.full((1, SIZE, SIZE, 3), 255.0, "float32")))
    np.testing.assert_allclose(rescale[0, 0, 0], (1 - np.array(pretrained.IMAGENET_MEAN)) / pretrained.IMAGENET_STD,
                               rtol=1e-6)


@pytest.mark.parametrize("arch", ["alexnet", "googlenet"])
def test_paper_faithful_networks_have_no_imagenet_weights(offline_cache, arch):
    with pytest.raises(ValueError, match="no ImageNet weights match this network exactly"):
        models.get(arch, weights="imagenet", width=0.125)


def test_keras_and_weights_h5_files(tmp_path):
    # a backbone trained here (any vras_keras classifier) seeds another model: `.keras` by layer names
    source = models.get("resnet18", input_shape=(32, 32, 3), num_classes=7, width=0.25)
    source.save(tmp_path / "source.keras")
    target = models.get("resnet18", input_shape=(32, 32, 3), num_classes=3, width=0.25,
                        weights=str(tmp_path / "source.keras"))
    assert target.weights_report.new_layers == ("logits",)
    x = _images(32)
    _close(_features(target, "avg_pool", x), _features(source, "avg_pool", x))
    source.save_weights(tmp_path / "source.weights.h5")
    again = models.get("resnet18", input_shape=(32, 32, 3), num_classes=7, width=0.25,
                       weights=str(tmp_path / "source.weights.h5"))
    _close(keras.ops.convert_to_numpy(again(x)), keras.ops.convert_to_numpy(source(x)))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        models.get("resnet18", width=0.25, weights=str(tmp_path / "missing.safetensors"))


def test_imagenet_labels_from_keras_hub():
    labels = pretrained.imagenet_labels()
    assert len(labels) == 1000 and labels[1] == "goldfish" and labels[0] == "tench"


BACKBONE_FAMILIES = [
    ("deeplab_v3", "resnet18", "conv1_conv", {"input_shape": (64, 64, 3), "num_classes": 3, "width": 0.25}, {}),
    ("fcn8s", "vgg16", "block1_conv1_conv", {"input_shape": (64, 64, 3), "num_classes": 3, "width": 0.125}, {}),
    ("deconvnet", "vgg16", "block1_conv1_conv", {"input_shape": (64, 64, 3), "num_classes": 3, "width": 0.125},
     {"batch_norm": True}),
    ("faster_rcnn", "resnet18", "conv1_conv", {"input_shape": (128, 128, 3), "num_classes": 2, "width": 0.25}, {}),
    ("yolo_v3", "darknet_tiny", None, {"input_shape": (64, 64, 3), "num_classes": 2, "width": 0.25}, {}),
    ("pose_heatmap", "resnet18", "conv1_conv", {"input_shape": (64, 64, 3), "num_joints": 3, "width": 0.25}, {}),
]


@pytest.mark.parametrize("family, backbone, layer, kwargs, backbone_kwargs", BACKBONE_FAMILIES,
                         ids=[f[0] for f in BACKBONE_FAMILIES])
def test_backbone_weights_reach_every_family(tmp_path, family, backbone, layer, kwargs, backbone_kwargs):
    source = models.get(backbone, input_shape=kwargs["input_shape"], width=kwargs["width"], include_top=False,
                        **backbone_kwargs)
    source.save(tmp_path / "backbone.keras")
    model = models.get(family, backbone=backbone, backbone_weights=str(tmp_path / "backbone.keras"), **kwargs)
    layer = layer or next(each.name for each in source.layers if each.weights)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer(layer).kernel),
                                  keras.ops.convert_to_numpy(source.get_layer(layer).kernel))


def test_export_meta_of_an_imagenet_classifier_has_imagenet_labels(offline_cache):
    from vras_keras.export.sources import build_registered

    offline_cache.mkdir(parents=True)
    tl.write_safetensors(offline_cache / "resnet18.tv_in1k.safetensors", tl.resnet_state("resnet18"))
    _, meta = build_registered("resnet18", {"input_shape": [SIZE, SIZE, 3], "weights": "imagenet"})
    assert len(meta.labels) == 1000 and meta.labels[1] == "goldfish"
    _, meta = build_registered("resnet18", {"input_shape": [SIZE, SIZE, 3], "weights": "imagenet",
                                            "num_classes": 4})
    assert meta.labels[0] != "tench" and len(meta.labels) == 4


def test_state_dict_round_trip(tmp_path):
    state = tl.resnet_state("resnet18")
    path = str(tl.write_safetensors(tmp_path / "r18.safetensors", state))
    model = models.get("resnet18", input_shape=(32, 32, 3), weights=path)
    back = pretrained.to_state_dict(model)
    assert sorted(back) == sorted(k for k in state if not k.endswith("num_batches_tracked"))
    for key, value in back.items():
        np.testing.assert_array_equal(value, state[key])
    saved = pretrained.save_safetensors(model, tmp_path / "again.safetensors")
    again = models.get("resnet18", input_shape=(32, 32, 3), num_classes=5, weights=str(saved))
    assert again.weights_report.new_layers == ("logits",)


def test_backbone_only_file_loads_every_backbone_weight_and_starts_a_new_head(tmp_path):
    """A file without fc.* (save_safetensors(head=False)): the ImageNet path's new head, even for the same
    num_classes; a backbone tensor missing from it still raises, naming the key."""
    keras.utils.set_random_seed(0)
    trained = models.get("resnet18", input_shape=(32, 32, 3), num_classes=5, width=0.25)
    for variable in trained.weights:  # weights unlike any fresh init, so equality means they were loaded
        variable.assign(np.random.default_rng(len(variable.path)).normal(size=variable.shape).astype("float32"))
    path = pretrained.save_safetensors(trained, tmp_path / "backbone.safetensors", head=False)
    state = pretrained.read_safetensors(path)
    assert not any(k.startswith("fc.") for k in state) and "layer4.1.bn2.running_var" in state
    model = models.get("resnet18", input_shape=(32, 32, 3), num_classes=5, width=0.25, weights=str(path))
    report = model.weights_report
    assert report.new_layers == ("logits",) and report.matched == report.total - 2
    assert "new (randomly initialised): logits" in str(report) and "the file has no head" in str(report)
    assert not pretrained.has_imagenet_head(model)
    for layer in trained.layers:
        for mine, theirs in zip(model.get_layer(layer.name).weights, layer.weights):
            same = np.array_equal(keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(theirs))
            assert same == (layer.name != "logits"), (layer.name, mine.path)
    from safetensors.numpy import save_file

    half_head = {**state, "fc.bias": np.zeros(5, "float32")}  # a head must be whole or absent
    save_file(half_head, str(tmp_path / "half_head.safetensors"))
    with pytest.raises(ValueError, match=r"has no 'fc.weight' for layer 'logits'"):
        models.get("resnet18", input_shape=(32, 32, 3), num_classes=5, width=0.25,
                   weights=str(tmp_path / "half_head.safetensors"))
    del state["layer3.0.downsample.1.running_mean"]
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(ValueError, match=r"has no 'layer3.0.downsample.1.running_mean'"):
        models.get("resnet18", input_shape=(32, 32, 3), num_classes=5, width=0.25,
                   weights=str(tmp_path / "partial.safetensors"))


def test_recipes_benchmark_reports_the_finetune_recipe_as_needing_weights_offline(tmp_path, monkeypatch):
    """benchmarks/recipes.py without network and without cached ImageNet weights: finetune.yaml is "not run:
    needs downloaded weights" (exit status 0, where to place the file), never a failed recipe; with the file
    in the cache it would run."""
    import importlib.util
    import socket

    spec = importlib.util.spec_from_file_location("bench_recipes", Path(__file__).parents[2] / "benchmarks/recipes.py")
    recipes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipes)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    for name in ("HF_ENDPOINT", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)

    def blocked(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "network blocked by the test")

    monkeypatch.setattr(socket, "getaddrinfo", blocked)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: blocked(*address))
    result = recipes.run_recipe("finetune", tmp_path / "run")
    assert result["rc"] == 0 and not (tmp_path / "run").exists()
    cached = tmp_path / "keras_home" / "vras_keras" / "weights" / "resnet18.tv_in1k.safetensors"
    assert result["needs"].startswith("needs downloaded weights: hf://timm/resnet18.tv_in1k")
    assert str(cached) in result["needs"]
    row = next(line for line in recipes.to_markdown([result]).splitlines() if "finetune.yaml" in line)
    assert "not run: needs downloaded weights" in row and "failed" not in row
    assert recipes.missing_weights("classification") is None  # no pretrained weights asked for
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert recipes.missing_weights("finetune") is None

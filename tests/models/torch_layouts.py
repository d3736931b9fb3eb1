"""Random state dicts in torchvision's (== timm's) layout, generated from the architectures' definitions.

Independent of vras_keras's own name map (models/pretrained.py): the keys and shapes below follow
torchvision's module trees (`torchvision.models.resnet.ResNet`, `densenet.DenseNet`, `vgg.VGG`) and timm's
VGG (`pre_logits.fc1/.fc2` convs, `head.fc`), so a test that loads them checks the map against the source
layout. PyTorch shapes: conv `(out, in, kh, kw)`, linear `(out, in)`, BN `weight/bias/running_mean/
running_var` of `(C,)` plus `num_batches_tracked`. Values are scaled so activations stay O(1) through
a random deep net (He-normal convs, BN statistics near 1).

`write_timm_preset(directory, arch, state)` writes `model.safetensors` and the `config.json` keras-hub's
timm loader reads (`architecture`, `num_classes`, `pretrained_cfg`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

RESNETS = {"resnet18": ((2, 2, 2, 2), "basic", 64), "resnet34": ((3, 4, 6, 3), "basic", 64),
           "resnet50": ((3, 4, 6, 3), "bottleneck", 64), "resnet101": ((3, 4, 23, 3), "bottleneck", 64),
           "resnet152": ((3, 8, 36, 3), "bottleneck", 64), "wide_resnet50_2": ((3, 4, 6, 3), "bottleneck", 128)}
DENSENETS = {"densenet121": (6, 12, 24, 16), "densenet169": (6, 12, 32, 32), "densenet201": (6, 12, 48, 32)}
VGGS = {"vgg11": (1, 1, 2, 2, 2), "vgg13": (2, 2, 2, 2, 2), "vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}


class _Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.state = {}

    def conv(self, key, out, inp, k, bias=False):
        fan_in = inp * k * k
        self.state[f"{key}.weight"] = (self.rng.standard_normal((out, inp, k, k)) * np.sqrt(2.0 / fan_in)).astype(
            "float32"
        )
        if bias:
            self.state[f"{key}.bias"] = (0.1 * self.rng.standard_normal(out)).astype("float32")

    def bn(self, key, c):
        self.state[f"{key}.weight"] = self.rng.uniform(0.5, 1.5, c).astype("float32")
        self.state[f"{key}.bias"] = (0.1 * self.rng.standard_normal(c)).astype("float32")
        self.state[f"{key}.running_mean"] = (0.1 * self.rng.standard_normal(c)).astype("float32")
        self.state[f"{key}.running_var"] = self.rng.uniform(0.5, 1.5, c).astype("float32")
        self.state[f"{key}.num_batches_tracked"] = np.array(7, dtype="int64")

    def linear(self, key, out, inp):
        self.state[f"{key}.weight"] = (self.rng.standard_normal((out, inp)) * np.sqrt(1.0 / inp)).astype("float32")
        self.state[f"{key}.bias"] = (0.1 * self.rng.standard_normal(out)).astype("float32")


def resnet_state(arch, *, num_classes=1000, seed=0):
    """torchvision ResNet: conv1, bn1, layer{1-4}.{b}.conv{i}/bn{i}[/downsample.0/.1], fc."""
    blocks, block, base_width = RESNETS[arch]
    b = _Builder(seed)
    b.conv("conv1", 64, 3, 7)
    b.bn("bn1", 64)
    inplanes, expansion = 64, 4 if block == "bottleneck" else 1
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        for i in range(n):
            key, stride = f"layer{stage}.{i}", (2 if stage > 1 and i == 0 else 1)
            if block == "basic":
                b.conv(f"{key}.conv1", planes, inplanes, 3)
                b.bn(f"{key}.bn1", planes)
                b.conv(f"{key}.conv2", planes, planes, 3)
                b.bn(f"{key}.bn2", planes)
            else:
                width = planes * base_width // 64
                b.conv(f"{key}.conv1", width, inplanes, 1)
                b.bn(f"{key}.bn1", width)
                b.conv(f"{key}.conv2", width, width, 3)
                b.bn(f"{key}.bn2", width)
                b.conv(f"{key}.conv3", planes * expansion, width, 1)
                b.bn(f"{key}.bn3", planes * expansion)
            if stride != 1 or inplanes != planes * expansion:
                b.conv(f"{key}.downsample.0", planes * expansion, inplanes, 1)
                b.bn(f"{key}.downsample.1", planes * expansion)
            inplanes = planes * expansion
    b.linear("fc", num_classes, inplanes)
    return b.state


def densenet_state(arch, *, num_classes=1000, seed=0, growth=32, bn_size=4):
    """torchvision DenseNet: features.conv0/norm0, denseblock{i}.denselayer{j}.norm1/conv1/norm2/conv2,
    transition{i}.norm/conv, norm5, classifier."""
    b = _Builder(seed)
    b.conv("features.conv0", 64, 3, 7)
    b.bn("features.norm0", 64)
    channels = 64
    config = DENSENETS[arch]
    for i, n in enumerate(config, start=1):
        for j in range(1, n + 1):
            key = f"features.denseblock{i}.denselayer{j}"
            b.bn(f"{key}.norm1", channels)
            b.conv(f"{key}.conv1", bn_size * growth, channels, 1)
            b.bn(f"{key}.norm2", bn_size * growth)
            b.conv(f"{key}.conv2", growth, bn_size * growth, 3)
            channels += growth
        if i < len(config):
            b.bn(f"features.transition{i}.norm", channels)
            b.conv(f"features.transition{i}.conv", channels // 2, channels, 1)
            channels //= 2
    b.bn("features.norm5", channels)
    b.linear("classifier", num_classes, channels)
    return b.state


def vgg_state(arch, *, batch_norm=False, layout="torchvision", pool5_side=7, num_classes=1000, seed=0,
              fc_units=4096):
    """torchvision VGG: features.{n} (n counts Conv2d[, BatchNorm2d], ReLU, and MaxPool2d modules),
    then `classifier.0/.3/.6` (linear, over the NCHW flatten of pool5); timm: `pre_logits.fc1` (conv
    `pool5_side`²), `pre_logits.fc2` (1×1 conv), `head.fc`."""
    b = _Builder(seed)
    index, inp = 0, 3
    for n, filters in zip(VGGS[arch], (64, 128, 256, 512, 512)):
        for _ in range(n):
            b.conv(f"features.{index}", filters, inp, 3, bias=True)
            index += 1
            if batch_norm:
                b.bn(f"features.{index}", filters)
                index += 1
            index += 1  # ReLU
            inp = filters
        index += 1  # MaxPool2d
    if layout == "timm":
        b.conv("pre_logits.fc1", fc_units, 512, pool5_side, bias=True)
        b.conv("pre_logits.fc2", fc_units, fc_units, 1, bias=True)
        b.linear("head.fc", num_classes, fc_units)
    else:
        b.linear("classifier.0", fc_units, 512 * pool5_side ** 2)
        b.linear("classifier.3", fc_units, fc_units)
        b.linear("classifier.6", num_classes, fc_units)
    return b.state


def state_for(arch, **kwargs):
    if arch in RESNETS:
        return resnet_state(arch, **kwargs)
    if arch in DENSENETS:
        return densenet_state(arch, **kwargs)
    name = arch.removesuffix("_bn")
    return vgg_state(name, batch_norm=arch.endswith("_bn"), **kwargs)


def write_safetensors(path, state):
    from safetensors.numpy import save_file

    save_file(state, str(path))
    return Path(path)


def write_timm_preset(directory, arch, state, num_classes=1000):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_safetensors(directory / "model.safetensors", state)
    config = {"architecture": arch, "num_classes": num_classes, "num_features": 512,
              "pretrained_cfg": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                 "interpolation": "bilinear", "input_size": [3, 224, 224]}}
    (directory / "config.json").write_text(json.dumps(config))
    return directory

"""Fine-tuning recipe on real images: pretrained backbone + configs/finetune.yaml vs training from scratch.

No ImageNet download here: the "pretrained" backbone is the project's own ResNet-18 (width 0.25, 32²)
trained on Fashion-MNIST (real photographs of clothes, 28² gray, Debian's `dataset-fashion-mnist`), then
written in torchvision's state-dict layout (`pretrained.save_safetensors`) and loaded back with
`weights=file.safetensors`: the path torchvision's ImageNet weights take (port + ImageNet input
normalisation). The target is a small labelled set of a different real domain, scikit-learn's digits
(8×8 scans upscaled to 32², written as class folders like one's own photos): `--per-class` training images
per class, the rest (~1,700) for validation. Both runs go through `vras train`'s `train(config)`:

- fine-tune: configs/finetune.yaml with its stages (head only, then C3..C5 at a 10× lower rate, BN frozen),
  epochs multiplied by `--epoch-scale` (default 1: as in the recipe);
- scratch: the same network and data, random init, configs/classification.yaml's optimizer (Adam 3e-3,
  cosine with 1 warm-up epoch), the same number of epochs.

Usage: python benchmarks/finetune.py [--per-class 10] [--seeds 0 1] [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FASHION_DIRS = ("/usr/share/datasets/fashion-mnist",)
FASHION_DEB = "/var/cache/apt/archives/dataset-fashion-mnist_*_all.deb"
ROOT = Path(__file__).resolve().parents[1]


def fashion_mnist(tmp: Path):
    """(train_x, train_y, test_x, test_y) uint8 28×28 from the installed or cached Debian package."""
    import glob

    directory = next((Path(d) for d in FASHION_DIRS if Path(d).is_dir()), None)
    if directory is None:
        debs = sorted(glob.glob(FASHION_DEB))
        if not debs:
            raise FileNotFoundError("Fashion-MNIST not found: apt-get install dataset-fashion-mnist "
                                    f"(looked in {FASHION_DIRS} and {FASHION_DEB})")
        subprocess.run(["dpkg-deb", "-x", debs[-1], str(tmp / "deb")], check=True)
        directory = tmp / "deb" / "usr/share/datasets/fashion-mnist"

    def read(name, offset):
        with gzip.open(directory / name) as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    train_x = read("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    test_x = read("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    return train_x, read("train-labels-idx1-ubyte.gz", 8), test_x, read("t10k-labels-idx1-ubyte.gz", 8)


def to_rgb32(gray):
    padded = np.pad(gray, [(0, 0), (2, 2), (2, 2)])
    return np.repeat(padded[..., None], 3, axis=-1).astype("float32")


def pretrain(tmp: Path, *, samples: int, epochs: int, seed: int = 0):
    import keras

    from vras_keras import models
    from vras_keras.layers import set_input_normalization
    from vras_keras.models import pretrained

    train_x, train_y, test_x, test_y = fashion_mnist(tmp)
    keras.utils.set_random_seed(seed)
    model = models.get("resnet18", input_shape=(32, 32, 3), width=0.25, num_classes=10)
    # trained on ImageNet-normalised inputs, as the safetensors path assumes of torchvision weights
    set_input_normalization(model, pretrained.IMAGENET_MEAN, pretrained.IMAGENET_STD)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = time.time()
    model.fit(to_rgb32(train_x[:samples]), train_y[:samples], batch_size=128, epochs=epochs, verbose=2)
    _, accuracy = model.evaluate(to_rgb32(test_x[:2000]), test_y[:2000], verbose=0)
    path = pretrained.save_safetensors(model, tmp / "fashion_resnet18_w025.safetensors")
    return path, float(accuracy), time.time() - start


def write_digits(tmp: Path, per_class: int, seed: int) -> Path:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.kron(digits.images / 16.0 * 255.0, np.ones((4, 4)))  # 8×8 -> 32×32
    rng = np.random.default_rng(seed)
    root = tmp / f"digits_{per_class}_{seed}"
    for label in range(10):
        index = rng.permutation(np.flatnonzero(digits.target == label))
        for split, chosen in (("train", index[:per_class]), ("val", index[per_class:])):
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            for i in chosen:
                Image.fromarray(np.round(images[i]).astype(np.uint8)).convert("RGB").save(folder / f"{i}.png")
    return root


def run(config_path, overrides, workdir):
    from vras_keras.training.config import load_config
    from vras_keras.training.trainer import train

    config = load_config(config_path, {**overrides, "workdir": str(workdir)})
    start = time.time()
    history = train(config, verbose=0).history
    return {"best": max(history["val_accuracy"]), "last": history["val_accuracy"][-1], "epochs": len(history["loss"]),
            "seconds": time.time() - start}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--pretrain-samples", type=int, default=10000)
    parser.add_argument("--pretrain-epochs", type=int, default=2)
    parser.add_argument("--epoch-scale", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a smoke run (few samples and epochs)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.pretrain_samples, args.pretrain_epochs, args.seeds, args.epoch_scale = 512, 1, args.seeds[:1], 1

    import yaml

    recipe = yaml.safe_load((ROOT / "configs/finetune.yaml").read_text())
    stages = [{**s, "epochs": s["epochs"] * args.epoch_scale} for s in recipe["finetune"]["stages"]]
    epochs = sum(s["epochs"] for s in stages)
    scratch_recipe = yaml.safe_load((ROOT / "configs/classification.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        weights, fashion_accuracy, pretrain_seconds = pretrain(tmp, samples=args.pretrain_samples,
                                                               epochs=args.pretrain_epochs)
        rows = []
        for seed in args.seeds:
            data = write_digits(tmp, args.per_class, seed)
            common = {"data.source": "path", "data.format": "folder", "data.path": str(data), "data.image_size": 32,
                      "data.options": {}, "model.args": {"width": 0.25},
                      "batch_per_replica": 16, "epochs": epochs, "seed": seed,
                      "callbacks.tensorboard": False, "callbacks.curves": False, "callbacks.backup": False}
            tuned = run(ROOT / "configs/finetune.yaml",
                        {**common, "model.weights": str(weights), "finetune.stages": stages}, tmp / f"ft{seed}")
            scratch = run(ROOT / "configs/classification.yaml",
                          {**common, "model.id": "resnet18", "optimizer": scratch_recipe["optimizer"],
                           "schedule": scratch_recipe["schedule"]}, tmp / f"sc{seed}")
            rows.append((seed, tuned, scratch))
            print(f"seed {seed}: fine-tuned {tuned}, scratch {scratch}", flush=True)

    from benchmarks._report import machine, write_section

    stage_text = ", ".join(f"{s['epochs']} epochs with trainable_stages {s['trainable_stages']} at lr "
                           f"{s['learning_rate']:g}" for s in stages)

    def mean(key, i):
        return float(np.mean([r[i][key] for r in rows]))

    lines = [
        "## Fine-tuning a pretrained backbone (configs/finetune.yaml) vs training from scratch",
        "",
        f"Pretrained: ResNet-18 (width 0.25, 32², {args.pretrain_samples} Fashion-MNIST training images, "
        f"{args.pretrain_epochs} epochs, Adam 3e-3; {fashion_accuracy:.3f} accuracy on 2,000 Fashion-MNIST test "
        f"images; {pretrain_seconds:.0f} s), written as a torchvision-layout safetensors file and loaded with "
        "`weights=PATH` (the ImageNet path). Target: scikit-learn digits (real 8×8 scans, upscaled to 32²), "
        f"{args.per_class} training images per class ({10 * args.per_class} in all), the other ~"
        f"{1797 - 10 * args.per_class} for validation; class folders read by `vras train` "
        f"(`source: path, format: folder`), batch 16, {epochs} epochs. Fine-tune: the recipe's stages "
        f"({stage_text}; "
        "SGD momentum 0.9, BN frozen). Scratch: same network, configs/classification.yaml's Adam 3e-3 cosine.",
        "",
        "| seed | fine-tuned best val acc | fine-tuned last | scratch best val acc | scratch last |",
        "|---|---|---|---|---|",
        *[f"| {seed} | {t['best']:.3f} | {t['last']:.3f} | {s['best']:.3f} | {s['last']:.3f} |" for seed, t, s in rows],
        f"| mean | **{mean('best', 1):.3f}** | {mean('last', 1):.3f} | **{mean('best', 2):.3f}** | "
        f"{mean('last', 2):.3f} |",
        "",
        f"Machine: {machine()}; {'--quick smoke run; ' if args.quick else ''}"
        f"wall time per run about {mean('seconds', 1):.0f} s (fine-tune) and {mean('seconds', 2):.0f} s (scratch).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write and not args.quick:
        write_section("finetune", text)


if __name__ == "__main__":
    main()

"""Issue #23: a user's own folders train right (order, hold-out, class lists, channels, decoding)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from vras_keras.data import datasets, images
from vras_keras.training.config import TrainConfig
from vras_keras.training.data import load_train_val, make_pipeline


def _class_folder(root, classes=("a", "b", "c", "d"), per_class=40, size=8, mode="L"):
    for k, name in enumerate(classes):
        os.makedirs(root / name, exist_ok=True)
        for i in range(per_class):
            value = 40 * k + i % 7
            array = np.full((size, size), value, np.uint8)
            Image.fromarray(array if mode == "L" else np.repeat(array[..., None], 3, -1)).save(
                root / name / f"{i:03d}.png"
            )
    return root


def _config(path, **data):
    return TrainConfig.from_dict({"model": {"id": "resnet_cifar", "args": {"depth": 8, "width": 0.25}},
                                  "data": {"source": "path", "format": "folder", "path": str(path), **data},
                                  "batch_per_replica": 16, "epochs": 1})


def test_class_sorted_folder_batches_mix_classes_whatever_the_shuffle_buffer(tmp_path, capsys):
    root = _class_folder(tmp_path / "photos")
    config = _config(root, shuffle_buffer=2)
    train, _ = load_train_val(config.data, "classification", seed=0, log=None)
    ds, steps = make_pipeline(train, 16, training=True, seed=0, shuffle_buffer=config.data.shuffle_buffer)
    batches = [y.numpy() for _, y in ds.take(2 * steps)]
    first = batches[0]
    assert len(set(first.tolist())) >= 3, first  # a 2-element buffer over a sorted list gives 1 class
    epoch1 = np.concatenate(batches[:steps])
    epoch2 = np.concatenate(batches[steps:])
    assert not np.array_equal(epoch1, epoch2)  # a new order every epoch
    again, _ = make_pipeline(load_train_val(config.data, "classification", seed=0, log=None)[0], 16,
                             training=True, seed=0, shuffle_buffer=2)
    assert np.array_equal(next(iter(again))[1].numpy(), first)  # seeded


def test_no_val_folder_holds_out_a_stratified_deterministic_fraction(tmp_path):
    root = _class_folder(tmp_path / "photos", per_class=30)
    lines = []
    config = _config(root)
    train, val = load_train_val(config.data, "classification", seed=0, log=lines.append)
    assert train.num_samples == 108 and val.num_samples == 12  # 3 of 30 per class
    assert len(lines) == 1 and "holding out 0.1" in lines[0] and "12 images" in lines[0]
    train_files = {r["file"] for r in _records(root, 0.1, "train")}
    val_files = {r["file"] for r in _records(root, 0.1, "val")}
    assert not train_files & val_files and len(train_files | val_files) == 120
    assert val_files == {r["file"] for r in _records(root, 0.1, "val")}  # deterministic
    labels = sorted(int(y) for _, y in val.dataset)
    assert labels == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3  # stratified
    # a separate folder instead
    other = _class_folder(tmp_path / "other", classes=("b", "a"), per_class=5)
    config = _config(root, val=str(other))
    train, val = load_train_val(config.data, "classification", seed=0, log=None)
    assert train.num_samples == 120 and val.num_samples == 10


def _records(root, fraction, split):
    train, val = datasets.holdout(datasets.read_records("classification", root).samples, fraction, seed=0)
    return train if split == "train" else val


def test_validation_classes_are_numbered_by_the_training_classes(tmp_path):
    root = tmp_path / "photos"
    _class_folder(root / "train", classes=("cat", "dog", "fox"), per_class=16)
    (root / "val").mkdir()
    _class_folder(root / "val", classes=("fox", "cat"), per_class=4)  # fewer classes: "cat" would become 0 anyway,
    (root / "val" / "classes.txt").write_text("fox\ncat\n")  # but its own classes.txt would number fox 0
    config = _config(root)
    train, val = load_train_val(config.data, "classification", seed=0, log=None)
    assert train.labels == ["cat", "dog", "fox"]
    # fox images have value 0..6, cat images 40..46 (written first / second)
    pairs = {int(y): float(x.numpy().mean()) for x, y in val.dataset}
    assert set(pairs) == {0, 2} and pairs[2] < 20 < pairs[0]
    _class_folder(root / "val", classes=("wolf",), per_class=2)
    (root / "val" / "classes.txt").unlink()
    with pytest.raises(ValueError, match="wolf"):
        load_train_val(_config(root).data, "classification", seed=0, log=None)


def test_coco_validation_categories_are_matched_by_name(tmp_path):
    from vras_keras.cli.data import make

    make("detection", "coco", out=str(tmp_path / "coco"), num=6, num_val=4, image_size=32)
    ann = tmp_path / "coco" / "val" / "annotations.json"
    data = json.loads(ann.read_text())
    n = len(data["categories"])
    for c in data["categories"]:
        c["id"] = n + 1 - c["id"]  # reversed ids: names stay, numbers change
    for a in data["annotations"]:
        a["category_id"] = n + 1 - a["category_id"]
    ann.write_text(json.dumps(data))
    reference = datasets.load("detection", source=tmp_path / "coco", split="val")
    names = reference.class_names
    aligned = datasets.load("detection", source=tmp_path / "coco", split="val", class_names=tuple(reversed(names)))
    raw = [t["classes"].numpy() for _, t in reference]
    fixed = [t["classes"].numpy() for _, t in aligned]
    for r, f in zip(raw, fixed):
        assert np.array_equal(np.where(r >= 0, n - 1 - r, -1), f)
    with pytest.raises(ValueError, match="not among the classes"):
        datasets.load("detection", source=tmp_path / "coco", split="val", class_names=names[:-1])


def test_masks_validation_classes_txt_is_renumbered_by_name(tmp_path):
    from vras_keras.data.formats._common import write_index_png

    root = tmp_path / "val"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "images" / "0.png")
    write_index_png(root / "masks" / "0.png", np.array([[0, 1, 2, 255]] * 4))
    (root / "classes.txt").write_text("background\nsquare\ncircle\n")
    ds = datasets.load("segmentation", source=root, class_names=("background", "circle", "square"))
    mask = next(iter(ds))[1].numpy()
    assert mask[0].tolist() == [0, 2, 1, 255]
    with pytest.raises(ValueError, match="star"):
        datasets.load("segmentation", source=root, class_names=("background", "star"))


def test_grayscale_16bit_rgba_and_exif_files_decode_as_the_one_decoder_does(tmp_path):
    gray = _class_folder(tmp_path / "gray", classes=("a", "b"), per_class=2, size=6)
    ds = datasets.load("classification", source=gray)
    assert ds.channels == 1 and ds.image_size == (6, 6)
    assert next(iter(ds))[0].shape == (6, 6, 1)

    mixed = tmp_path / "mixed"
    (mixed / "x").mkdir(parents=True)
    Image.fromarray((np.arange(30, dtype=np.uint16).reshape(5, 6) * 2000)).save(mixed / "x" / "wide.png")
    rgba = np.zeros((5, 6, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(mixed / "x" / "rgba.png")
    exif = Image.new("RGB", (5, 6), (10, 20, 30))
    info = exif.getexif()
    info[0x0112] = 6  # rotate 90 degrees: 6x5 after the transpose
    exif.save(mixed / "x" / "turned.jpg", exif=info)
    ds = datasets.load("classification", source=mixed, image_size=None)
    assert ds.channels == 3 and ds.image_size == (5, 6)  # every file decodes to 5x6 (EXIF applied)
    decoded = [x.numpy() for x, _ in ds]
    files = sorted(os.listdir(mixed / "x"))
    for x, name in zip(decoded, files):
        expected = images.read_image(mixed / "x" / name).astype(np.float32)
        np.testing.assert_array_equal(x, expected)
    assert decoded[files.index("wide.png")].max() > 200  # 16-bit rescaled, not clipped to 255 everywhere
    assert decoded[files.index("wide.png")].min() < 10


def test_different_sizes_need_image_size(tmp_path):
    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    Image.new("L", (8, 8)).save(root / "a" / "1.png")
    Image.new("L", (9, 8)).save(root / "a" / "2.png")
    with pytest.raises(ValueError, match="data.image_size"):
        load_train_val(_config(root, val_fraction=0.0).data, "classification", seed=0, log=None)
    train, _ = load_train_val(_config(root, image_size=10, val_fraction=0.0).data, "classification", 0, log=None)
    assert train.input_shape == (10, 10, 1)


def test_training_and_predict_resize_a_file_to_the_same_pixels(tmp_path):
    """One resize: what training feeds for a file equals what `vras predict` (Predictor.preprocess) and the
    serving graph (tf.image.resize bilinear, RESIZE_BILINEAR in TFLite) feed for the same file."""
    import types

    import tensorflow as tf

    from vras_keras.export.loading import Predictor

    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(37, 53), (9, 7)]):  # one shrunk (no antialias), one enlarged
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / "a" / f"{i}.png")
    ds = datasets.load("classification", source=root, image_size=(16, 24))
    trained = [x.numpy() for x, _ in ds]
    meta = types.SimpleNamespace(input_size=(16, 24), input_channels=3)
    predictor = Predictor("unused", meta, "saved_model", run=None)
    for x, name in zip(trained, sorted(os.listdir(root / "a"))):
        decoded = images.read_image(root / "a" / name)
        np.testing.assert_allclose(x, predictor.preprocess(decoded)[0], atol=1e-4)
        serving = tf.image.resize(decoded.astype(np.float32), (16, 24), method="bilinear").numpy()
        np.testing.assert_allclose(x, serving, atol=1e-3)
    # the documented rule, by hand: output pixel centre (i + 0.5) * scale - 0.5, no antialiasing
    row = np.array([[0.0, 100.0, 200.0, 255.0]], np.float32)
    np.testing.assert_allclose(images.resize(row, (1, 2)), [[50.0, 227.5]])


def test_decoded_folder_is_cached_in_chunks_with_the_same_elements(tmp_path, monkeypatch):
    root = _class_folder(tmp_path / "photos", per_class=50)
    calls = []
    real = images.read_image
    monkeypatch.setattr(images, "read_image", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    cached = datasets.load("classification", source=root, shuffle=True, seed=3, cache=True)
    plain = datasets.load("classification", source=root, shuffle=True, seed=3, cache=False)
    first = [(x.numpy(), int(y)) for x, y in cached]
    assert len(calls) == 200  # every file decoded once in epoch 1
    second = [(x.numpy(), int(y)) for x, y in cached]
    assert len(calls) == 200  # epoch 2 from memory
    assert [y for _, y in first] != [y for _, y in second]  # in a new order
    assert sorted((y, float(x.sum())) for x, y in first) == sorted((y, float(x.sum())) for x, y in second)
    uncached = [(x.numpy(), int(y)) for x, y in plain]  # same seed: the same first-epoch order and pixels
    assert [y for _, y in uncached] == [y for _, y in first]
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(uncached, first))
    assert datasets.cache_fits(1000, 28, 28, 1) and not datasets.cache_fits(10**6, 224, 224, 3)


@pytest.mark.parametrize("task, fmt", [("detection", "coco"), ("pose", "coco"), ("detection", "voc"),
                                       ("segmentation", "voc"), ("segmentation", "masks")])
def test_coco_voc_and_mask_images_are_decoded_lazily_after_the_shuffle(task, fmt, tmp_path, monkeypatch):
    from vras_keras.data import formats

    names = datasets.class_names("detection" if task == "segmentation" else task)
    extra = {} if task == "pose" else {"max_objects": 3}
    records = list(datasets.synthetic_records(task, num_samples=6, image_size=32, seed=2, **extra))
    formats.get(fmt).write(tmp_path, task, records, class_names=names)
    calls = []
    real = images.read_image
    monkeypatch.setattr(images, "read_image", lambda *a, **k: calls.append(os.fspath(a[0])) or real(*a, **k))
    read = datasets.read_records(task, tmp_path, format=fmt)
    assert calls == [] and all("image" not in r and r["shape"] == (32, 32, 3) for r in read.samples)
    ds = datasets.load(task, source=tmp_path, format=fmt, shuffle=True, seed=1)
    assert calls == []  # nothing decoded at load time
    elements = list(ds)
    assert len(calls) == len(read.samples)  # decoded in the pipeline, in the shuffled order
    order = [sorted(r["file"] for r in read.samples).index(f) for f in calls]
    assert order != sorted(order) or len(order) < 3
    by_file = {r["file"]: r for r in read.samples}
    for (image, target), file in zip(elements, calls):  # the same samples as decoding eagerly gave
        np.testing.assert_array_equal(image.numpy(), real(file).astype(np.float32))
        if task == "segmentation":
            np.testing.assert_array_equal(target.numpy(), by_file[file]["mask"])
        elif task == "detection":
            k = len(by_file[file]["classes"])
            np.testing.assert_allclose(target["boxes"].numpy()[:k], by_file[file]["boxes"])
        else:
            np.testing.assert_allclose(target["keypoints"].numpy(), by_file[file]["keypoints"])


def test_training_pipelines_run_without_the_tf_data_autotuner(tmp_path):
    # With the autotuner, destroying the iterator when fit returns waited up to its re-optimisation period
    # (doubling to 60 s): 4-50 s after the last epoch of a Fashion-MNIST run, in 6 of 11 fits measured;
    # 0 of 7 without it, at the same CPU time per epoch. AUTOTUNE still means one parallel call per core.
    config = _config(_class_folder(tmp_path / "photos"))
    train, val = load_train_val(config.data, "classification", seed=0, log=None)
    for source, training in ((train, True), (val, False)):
        ds, steps = make_pipeline(source, 16, training=training, seed=0)
        assert ds.options().autotune.enabled is False
        assert sum(int(y.shape[0]) for _, y in ds.take(steps)) == 16 * steps

import numpy as np
import pytest
import tensorflow as tf

from vras_keras.data import datasets, shapes


def _arrays(ds):
    return [tf.nest.map_structure(lambda t: t.numpy(), e) for e in ds]


@pytest.mark.parametrize(
    "task, target_spec",
    [
        ("classification", tf.TensorSpec((), tf.int32)),
        ("segmentation", tf.TensorSpec((32, 32), tf.int32)),
        ("detection", {"boxes": tf.TensorSpec((3, 4), tf.float32), "classes": tf.TensorSpec((3,), tf.int32),
                       "masks": tf.TensorSpec((3, 32, 32), tf.uint8)}),
        ("pose", {"keypoints": tf.TensorSpec((len(shapes.JOINT_NAMES), 2), tf.float32),
                  "visibility": tf.TensorSpec((len(shapes.JOINT_NAMES),), tf.float32)}),
    ],
)
def test_element_spec_per_task(task, target_spec):
    kwargs = {"max_objects": 3} if task == "detection" else {}
    ds = datasets.load(task, num_samples=4, image_size=32, **kwargs)
    expected = (tf.TensorSpec((32, 32, 3), tf.float32), target_spec)
    assert ds.element_spec == expected
    assert datasets.element_spec(task, 32, max_objects=3) == expected
    batched = datasets.load(task, num_samples=5, image_size=32, batch_size=2, **kwargs)
    sizes = [int(tf.nest.flatten(e)[0].shape[0]) for e in batched]
    assert sizes == [2, 2, 1]
    image = next(iter(ds))[0].numpy()
    assert image.min() >= 0 and image.max() <= 255 and image.max() > 1  # 0..255, not rescaled
    assert ds.class_names == datasets.class_names(task) and ds.num_skipped == 0


def test_load_deterministic_and_splits_differ():
    a = _arrays(datasets.load("detection", num_samples=6, image_size=32, seed=1))
    b = _arrays(datasets.load("detection", num_samples=6, image_size=32, seed=1))
    for (xa, ya), (xb, yb) in zip(a, b):
        assert xa.tobytes() == xb.tobytes()
        for k in ya:
            assert ya[k].tobytes() == yb[k].tobytes()
    val = _arrays(datasets.load("detection", split="val", num_samples=6, image_size=32, seed=1))
    train_images = {x.tobytes() for x, _ in a}
    assert not train_images & {x.tobytes() for x, _ in val}
    other_seed = _arrays(datasets.load("detection", num_samples=6, image_size=32, seed=2))
    assert not train_images & {x.tobytes() for x, _ in other_seed}


def test_targets_match_the_generator():
    ds = _arrays(datasets.load("detection", split="val", num_samples=4, image_size=32, seed=7, max_objects=5))
    world = datasets.generator("detection", image_size=32, seed=7, split="val", max_objects=5)
    for i, (image, target) in enumerate(ds):
        s = world.sample(i)
        k = len(s["classes"])
        np.testing.assert_array_equal(image, s["image"].astype(np.float32))
        np.testing.assert_array_equal(target["classes"][:k], s["classes"])
        assert (target["classes"][k:] == -1).all() and (target["boxes"][k:] == 0).all()
        assert (target["masks"][k:] == 0).all()
        np.testing.assert_array_equal(target["boxes"][:k], s["boxes"])
        np.testing.assert_array_equal(target["masks"][:k], s["instance_masks"])
    seg = _arrays(datasets.load("segmentation", num_samples=3, image_size=32, seed=7))
    world = datasets.generator("segmentation", image_size=32, seed=7)
    for i, (_, mask) in enumerate(seg):
        np.testing.assert_array_equal(mask, world.sample(i)["semantic_mask"])


def test_classification_labels_cover_classes_and_shuffle_is_deterministic():
    labels = [int(y) for _, y in datasets.load("classification", num_samples=60, image_size=32)]
    assert set(labels) == set(range(datasets.num_classes("classification")))
    s1 = [int(y) for _, y in datasets.load("classification", num_samples=20, image_size=32, shuffle=True, seed=3)]
    s2 = [int(y) for _, y in datasets.load("classification", num_samples=20, image_size=32, shuffle=True, seed=3)]
    plain = [int(y) for _, y in datasets.load("classification", num_samples=20, image_size=32, seed=3)]
    assert s1 == s2 and sorted(s1) == sorted(plain)


def test_num_classes_and_names():
    assert datasets.num_classes("classification") == len(shapes.CLASS_NAMES)
    assert datasets.num_classes("segmentation") == len(shapes.CLASS_NAMES) + 1
    assert datasets.class_names("segmentation")[0] == "background"
    assert datasets.class_names("pose") == shapes.JOINT_NAMES


def test_load_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Unknown task"):
        datasets.load("depth", num_samples=2)
    with pytest.raises(ValueError, match="Unknown split"):
        datasets.load("classification", split="holdout", num_samples=2)
    with pytest.raises(ValueError, match="source"):
        datasets.load("classification", num_samples=2, skip_bad=True)
    with pytest.raises(ValueError, match="batch_size"):
        datasets.load("classification", num_samples=2, batch_size=0)


def _digest(ds):
    import hashlib

    h = hashlib.sha256()
    for element in ds:
        for t in tf.nest.flatten(element):
            h.update(t.numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("task", ["pose", "detection"])
def test_worker_processes_give_the_same_bytes(task):
    # 2 spawned generator processes vs this process, and a rerun: byte-identical datasets, in order.
    # 37 samples: two full chunks of data.workers' 16 and a partial one.
    kwargs = dict(num_samples=37, image_size=32, seed=2, **({"max_objects": 3} if task == "detection" else {}))
    here = _digest(datasets.load(task, workers=0, **kwargs))
    assert _digest(datasets.load(task, workers=2, **kwargs)) == here
    assert _digest(datasets.load(task, workers=2, **kwargs)) == here
    reference = [(s["image"].astype(np.float32), s) for s in map(datasets.generator(task, image_size=32, seed=2,
                 **({"max_objects": 3} if task == "detection" else {})).sample, range(37))]
    first = _arrays(datasets.load(task, workers=2, **kwargs).take(1))[0]
    np.testing.assert_array_equal(first[0], reference[0][0])
    assert datasets.load(task, workers=2, **kwargs).cardinality() == 37
    # In this process: every element is the generator's, in order, and shuffled they are the same elements.
    images = [image.tobytes() for image, _ in _arrays(datasets.load(task, workers=0, **kwargs))]
    assert images == [image.tobytes() for image, _ in reference]
    shuffled = [image.tobytes() for image, _ in _arrays(datasets.load(task, workers=0, shuffle=True, **kwargs))]
    assert shuffled != images and sorted(shuffled) == sorted(images)


def test_default_workers():
    from vras_keras.data import workers

    assert workers.default_workers(100) == 0  # small datasets stay in this process
    assert workers.default_workers(100, 3) == 3
    expected = 0 if workers.available_cores() < 2 else min(workers.available_cores(), workers.MAX_AUTO_WORKERS)
    assert workers.default_workers(10_000) == expected
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="workers must be an integer >= 0"):
            workers.default_workers(10, bad)
    with pytest.raises(ValueError, match="workers= applies to synthetic data only"):
        datasets.load("classification", source="/nonexistent", workers=2)


def test_worker_processes_end_with_their_parent(tmp_path):
    # A parent killed with SIGKILL cannot stop its pool: the workers notice and exit by themselves.
    import os
    import subprocess
    import sys
    import time

    script = (
        "import os, sys\n"
        "from vras_keras.data import workers\n"
        "workers.start(2)\n"
        "pids = [p.pid for p in workers.pool(2)._processes.values()]\n"
        "print(' '.join(map(str, pids)), flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(__import__("pathlib").Path(datasets.__file__).resolve().parents[2])}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        parent.kill()
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        alive = pids
        while alive and time.monotonic() < deadline:
            time.sleep(0.5)
            alive = [p for p in pids if _running(p)]
        assert not alive, f"worker processes {alive} outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False

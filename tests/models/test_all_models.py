"""Every registered model, read from `list_models()` so that a new model cannot skip these (as timm's tests):

1. `test_every_model_has_a_tiny_config`: each id has a row in `TINY` (the tiny-size arguments and inputs);
2. `test_tiny_model_through_the_harness[id]`: the harness at that tiny size: symbolic output shapes, the
   eager call, `get_config` / `.keras` round trips and a finite, non-zero gradient for every weight and the
   input (the family tests run the deployment steps - SavedModel, TFLite, jit, bf16 - on their models);
3. `test_defaults_build[id]`: built with its defaults only, as `vras list` does (issue #20: Faster/Mask
   R-CNN once rejected their own default input); full-size builds take 1-15 s each on 2 CPU cores, so
   the ids above ~20 M parameters are marked slow;
4. `test_full_harness_at_tiny_size[id]` (slow): every harness step, SavedModel and TFLite included.
"""

import keras
import numpy as np
import pytest

from vras_keras import models
from vras_keras.cli.list_models import read_index
from vras_keras.testing import check_model

# Models of the package (tests may register their own ids, e.g. tests/fixtures/training.py; those are not ours).
PACKAGE_MODELS = sorted(
    n for n in models.list_models() if models.get_entry(n).builder.__module__.startswith("vras_keras.")
)

DETECTION_TINY = {"input_shape": (64, 64, 3), "num_classes": 3, "width": 0.125}
RCNN_TINY = {**DETECTION_TINY, "backbone": "resnet18", "anchor_sizes": [[8], [16], [32], [48], [64]],
             "roi_canonical_size": 48, "rpn_pre_nms_top_k": 100, "rpn_post_nms_top_k": 16,
             "train_pre_nms_top_k": 100, "train_post_nms_top_k": 32, "rpn_num_samples": 64, "roi_num_samples": 32,
             "seed": 0}
CLASSIFIER = {"input_shape": (32, 32, 3), "num_classes": 5, "width": 0.125}
POSE = {"backbone": "resnet18", "num_joints": 4, "input_shape": (32, 32, 3), "width": 0.125, "level": "C4"}
SEGMENTATION = {"input_shape": (32, 32, 3), "num_classes": 3, "width": 1 / 16}

# Deeper variants of a family whose blocks the shallower member's gradient check covers (densenet121,
# resnet50): in the default run their gradient step is left to the full (slow) harness below, as it takes
# most of the time of a model with hundreds of layers.
DEEPER_VARIANT = {"run_gradients": False}

# id -> (builder arguments, input shape without the batch, harness options)
TINY = {
    "alexnet": ({**CLASSIFIER, "input_shape": (67, 67, 3), "width": 0.0625, "dropout_rate": 0.0}, (67, 67, 3), {}),
    "darknet53": ({**CLASSIFIER, "width": 0.0625}, (32, 32, 3), {}),
    "darknet_tiny": (CLASSIFIER, (32, 32, 3), {}),
    "densenet121": (CLASSIFIER, (32, 32, 3), {}),
    "densenet169": (CLASSIFIER, (32, 32, 3), DEEPER_VARIANT),
    "densenet201": (CLASSIFIER, (32, 32, 3), DEEPER_VARIANT),
    "densenet_bc": ({"depth": 10, "growth_rate": 4}, (32, 32, 3), {}),
    "googlenet": ({**CLASSIFIER, "dropout_rate": 0.0}, (32, 32, 3), {}),
    "resnet18": (CLASSIFIER, (32, 32, 3), {}),
    "resnet34": (CLASSIFIER, (32, 32, 3), {}),
    "resnet50": (CLASSIFIER, (32, 32, 3), {}),
    "resnet101": (CLASSIFIER, (32, 32, 3), DEEPER_VARIANT),
    "resnet152": (CLASSIFIER, (32, 32, 3), DEEPER_VARIANT),
    "se_resnet50": (CLASSIFIER, (32, 32, 3), {}),
    "wide_resnet50_2": (CLASSIFIER, (32, 32, 3), {}),
    "resnet_cifar": ({"depth": 8, "width": 0.5}, (32, 32, 3), {}),
    "wide_resnet": ({"depth": 10, "widen_factor": 2, "width": 0.5}, (32, 32, 3), {}),
    "vgg11": ({**CLASSIFIER, "dropout_rate": 0.0}, (32, 32, 3), {}),
    "vgg13": ({**CLASSIFIER, "dropout_rate": 0.0}, (32, 32, 3), {}),
    "vgg16": ({**CLASSIFIER, "dropout_rate": 0.0}, (32, 32, 3), {}),
    "vgg19": ({**CLASSIFIER, "dropout_rate": 0.0}, (32, 32, 3), {}),
    "cnn_classifier": ({"input_shape": (24, 24, 1), "num_classes": 3, "width": 0.25}, (24, 24, 1), {}),
    "stn_classifier": ({"input_shape": (24, 24, 1), "num_classes": 3, "width": 0.25}, (24, 24, 1), {}),
    "stn3d_classifier": ({"input_shape": (8, 12, 12, 1), "num_classes": 3, "width": 0.25}, (8, 12, 12, 1),
                         {"run_mixed_precision": False}),
    "fcn8s": (SEGMENTATION, (32, 32, 3), {}),
    "fcn16s": (SEGMENTATION, (32, 32, 3), {}),
    "fcn32s": (SEGMENTATION, (32, 32, 3), {}),
    "deconvnet": (SEGMENTATION, (32, 32, 3), {}),
    "deeplab_v3": ({**SEGMENTATION, "input_shape": (64, 64, 3), "width": 0.125}, (64, 64, 3), {"atol": 1e-4}),
    "segnet": ({"input_shape": (32, 32, 3), "num_classes": 3, "filters": (8, 16)}, (32, 32, 3), {}),
    "pose_regression": (POSE, (32, 32, 3), {}),
    "pose_heatmap": ({**POSE, "num_upsample": 1, "head_filters": 16}, (32, 32, 3), {}),
    "pose_integral": ({**POSE, "num_upsample": 1, "head_filters": 16}, (32, 32, 3), {}),
    # detectors: the raw training outputs; their own losses train on {"boxes", "classes"[, "masks"]}
    "yolo_v2": (DETECTION_TINY, (64, 64, 3), {"atol": 1e-4}),
    "yolo_v3": (DETECTION_TINY, (64, 64, 3), {"atol": 1e-4}),
    "faster_rcnn": (RCNN_TINY, (64, 64, 3), {"atol": 1e-3}),
    "mask_rcnn": (RCNN_TINY, (64, 64, 3), {"atol": 1e-3}),
    "lift": ({"patch_size": 24, "crop_size": 12.0, "descriptor_size": 8, "descriptor_dim": 16, "width": 0.25},
             (24, 24, 3), {"run_mixed_precision": False}),
}

# Full-size builds above ~20 M parameters (seconds each on 2 cores): slow.
HEAVY = {"alexnet", "darknet53", "deconvnet", "deeplab_v3", "faster_rcnn", "fcn8s", "fcn16s", "fcn32s", "mask_rcnn",
         "resnet34", "resnet50", "resnet101", "resnet152", "se_resnet50", "wide_resnet", "wide_resnet50_2", "vgg11",
         "vgg13", "vgg16", "vgg19", "yolo_v2", "yolo_v3", "pose_heatmap", "pose_integral", "pose_regression"}

# Targets for the fit step of the full harness, where the default (random, MSE per output) does not apply.
_DETECTION_TARGETS = {"boxes": np.array([[[10, 10, 30, 30], [40, 5, 60, 20], [-1, -1, -1, -1]]] * 2, "float32"),
                      "classes": np.array([[0, 2, -1]] * 2, "int32")}


def _random_stn_head(model):
    """The transformer's last layer starts at zero (the identity transform), which by design gives the
    localisation network no gradient at initialisation: a random small head makes every weight reachable."""
    head = model.get_layer("stn").head
    head.kernel.assign(np.random.default_rng(0).normal(0, 1e-3, head.kernel.shape).astype("float32"))
    return model


PREPARE = {"stn_classifier": _random_stn_head, "stn3d_classifier": _random_stn_head}


def _builder(name):
    kwargs = TINY[name][0]
    prepare = PREPARE.get(name, lambda model: model)
    return lambda: prepare(models.get(name, **kwargs))


def _inputs(shape, n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, *shape)).astype("float32")


def _fit_options(name):
    """Targets and compile arguments of the fit step for models whose loss is their own."""
    task = models.get_entry(name).task
    if task == "detection":
        targets = dict(_DETECTION_TARGETS)
        if name == "mask_rcnn":
            masks = np.zeros((2, 3, 64, 64), "uint8")
            masks[:, 0, 12:28, 12:28] = 1
            masks[:, 1, 6:19, 42:58] = 1
            targets["masks"] = masks
        return {"targets": targets, "compile_kwargs": {"optimizer": keras.optimizers.Adam(1e-3), "jit_compile": False}}
    if name == "lift":
        return {"compile_kwargs": {"optimizer": keras.optimizers.Adam(1e-3), "loss": "mse"}}
    return {}


def test_every_model_has_a_tiny_config():
    missing = sorted(set(PACKAGE_MODELS) - set(TINY))
    assert not missing, f"add a row to TINY in {__file__} for the new model(s) {missing}"
    assert not sorted(set(TINY) - set(PACKAGE_MODELS)), "TINY has rows for ids that are not registered"
    assert set(HEAVY) <= set(PACKAGE_MODELS)


@pytest.mark.parametrize("name", PACKAGE_MODELS)
def test_tiny_model_through_the_harness(name):
    _, shape, options = TINY[name]
    light = {"run_training": False, "run_jit": False, "run_mixed_precision": False, "run_saved_model": False,
             "run_tflite": False}
    model = check_model(_builder(name), _inputs(shape), name=name, **{**light, **options})
    assert all(np.isfinite(v).all() for v in model.get_weights())


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n
                                  for n in PACKAGE_MODELS])
def test_defaults_build(name):
    model = models.get(name)  # the builder's defaults, as `vras list` builds it
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    assert trainable > 0
    assert model.count_params() >= trainable
    # `vras list` prints the count recorded in vras_keras/models/index.json: it must be this one
    recorded = {row["name"]: row["params"] for row in read_index()}
    assert recorded.get(name) == trainable, (
        f"{name}: index.json says {recorded.get(name)}, the model has {trainable}; "
        "run `python -m vras_keras.cli.list_models --write-index`")


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", PACKAGE_MODELS)
def test_full_harness_at_tiny_size(name):
    _, shape, options = TINY[name]
    options = {k: v for k, v in options.items() if k != "run_gradients"}  # the full harness runs every step
    check_model(_builder(name), _inputs(shape), name=name, **{**_fit_options(name), **options})


def test_darknet53_parameter_count_is_the_papers():
    """YOLOv3 (arXiv:1804.02767) Table 1, by hand: 52 bias-free convs (3x3 / 1x1) with BN, then the classifier."""
    convs = [(3, 32, 3), (32, 64, 3)]
    for filters, blocks, previous in ((64, 1, None), (128, 2, 64), (256, 8, 128), (512, 8, 256), (1024, 4, 512)):
        if previous:
            convs.append((previous, filters, 3))
        convs += [(filters, filters // 2, 1), (filters // 2, filters, 3)] * blocks
    assert len(convs) == 52
    conv_weights = sum(k * k * cin * cout for cin, cout, k in convs)
    bn = sum(cout for _, cout, _ in convs)
    assert (conv_weights, conv_weights + 2 * bn) == (40_549_216, 40_584_928)
    model = models.get("darknet53")
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    assert trainable == conv_weights + 2 * bn + 1024 * 1000 + 1000 == 41_609_928  # timm's darknet53: 41.6 M
    assert model.count_params() == trainable + 2 * bn == 41_645_640  # + BN moving mean and variance
    backbone = models.get("darknet53", include_top=False, input_shape=(64, 64, 3), width=0.0625)
    assert {k: tuple(v.shape[1:]) for k, v in backbone.pyramid_outputs.items()} == {
        "C1": (32, 32, 4), "C2": (16, 16, 8), "C3": (8, 8, 16), "C4": (4, 4, 32), "C5": (2, 2, 64)}

import numpy as np
import pytest

from vras_keras import models
from vras_keras.testing import check_model

from ._helpers import classification_compile, count_trainable, images, labels

# torchvision convention: bias-free convs + BN (gamma, beta), 1000 classes unless stated.
EXACT = [
    ("resnet18", {}, 11_689_512),
    ("resnet50", {}, 25_557_032),
    ("se_resnet50", {}, 28_088_024),
    ("resnet_cifar", {"depth": 20}, 269_722),
    ("resnet_cifar", {"depth": 56}, 853_018),
    ("resnet_cifar", {"depth": 110}, 1_727_962),
]
EXACT_SLOW = [
    ("resnet34", {}, 21_797_672),
    ("resnet101", {}, 44_549_160),
    ("resnet152", {}, 60_192_808),
    ("wide_resnet50_2", {}, 68_883_240),
    ("wide_resnet", {"depth": 28, "widen_factor": 10}, 36_479_194),
]


@pytest.mark.parametrize("name,kwargs,expected", EXACT)
def test_exact_trainable_parameters(name, kwargs, expected):
    assert count_trainable(models.get(name, **kwargs)) == expected


@pytest.mark.slow
@pytest.mark.parametrize("name,kwargs,expected", EXACT_SLOW)
def test_exact_trainable_parameters_large(name, kwargs, expected):
    assert count_trainable(models.get(name, **kwargs)) == expected


def test_resnet18_tiny_harness():
    x, y = images(), labels()
    model = check_model(
        lambda: models.get("resnet18", input_shape=(32, 32, 3), num_classes=5, width=0.125),
        x, targets=y, compile_kwargs=classification_compile(), expected_output_shapes=(None, 5),
    )
    assert model.get_layer("stage3_block1_conv1_conv").use_bias is False
    assert model.get_layer("stage3_block1_downsample_conv").strides == (2, 2)


def test_se_resnet_tiny_harness():
    x, y = images(), labels()
    model = check_model(
        lambda: models.get("se_resnet50", input_shape=(32, 32, 3), num_classes=5, width=0.125),
        x, targets=y, compile_kwargs=classification_compile(), expected_output_shapes=(None, 5),
        run_mixed_precision=False, run_saved_model=False, run_jit=False,  # covered by the resnet18 run
    )
    se = model.get_layer("stage5_block3_se")
    assert se.units == 256 // 16 and se.count_params() == 2 * 256 * 16 + 16 + 256


def test_resnet_cifar_harness_and_option_a():
    x, y = images(), labels(num_classes=10)
    model = check_model(
        lambda: models.get("resnet_cifar", depth=20, width=0.5), x, targets=y,
        compile_kwargs=classification_compile(), expected_output_shapes=(None, 10),
    )
    assert count_trainable(model) > 0
    assert model.get_layer("stage2_block1_shortcut").count_params() == 0
    with pytest.raises(ValueError, match="6n \\+ 2"):
        models.get("resnet_cifar", depth=21)


def test_wide_resnet_tiny_harness_with_head_dropout():
    x, y = images(), labels(num_classes=10)
    model = check_model(
        lambda: models.get("wide_resnet", depth=10, widen_factor=2, width=0.5, dropout_rate=0.3), x, targets=y,
        compile_kwargs=classification_compile(), expected_output_shapes=(None, 10),
        run_mixed_precision=False, run_saved_model=False,
    )
    # dropout only in the head: after the final BN-ReLU and pooling, nowhere in the trunk
    dropouts = [layer.name for layer in model.layers if "dropout" in layer.name]
    assert dropouts == ["head_dropout"]
    names = [layer.name for layer in model.layers]
    assert names.index("final_bn") < names.index("head_dropout")


def test_no_skip_variant_has_no_add_and_trains():
    x, y = images(), labels()
    model = check_model(
        lambda: models.get("resnet18", input_shape=(32, 32, 3), num_classes=5, width=0.125, skip=False),
        x, targets=y, compile_kwargs=classification_compile(),
        run_config=False, run_mixed_precision=False, run_saved_model=False, run_tflite=False, run_jit=False,
    )
    assert not any(layer.__class__.__name__ == "Add" for layer in model.layers)
    with_skip = models.get("resnet18", input_shape=(32, 32, 3), num_classes=5, width=0.125)
    # the plain network drops exactly the projection shortcuts (conv + BN)
    projections = sum(count_trainable(layer) for layer in with_skip.layers if "downsample" in layer.name)
    assert count_trainable(with_skip) - count_trainable(model) == projections > 0
    for name in ("resnet_cifar", "wide_resnet"):
        plain = models.get(name, depth=10 if name == "wide_resnet" else 8, width=0.25, skip=False)
        assert not any(layer.__class__.__name__ == "Add" for layer in plain.layers)


def test_pyramid_outputs_strides():
    model = models.get("resnet50", input_shape=(64, 64, 3), include_top=False, width=0.125)
    shapes = {k: tuple(v.shape[1:3]) for k, v in model.pyramid_outputs.items()}
    assert shapes == {f"C{k}": (64 // 2**k, 64 // 2**k) for k in range(1, 6)}
    assert model.pyramid_outputs["C5"].shape[-1] == 256  # 512 * 4 * 0.125
    assert tuple(model.output.shape) == (None, 2, 2, 256)


@pytest.mark.parametrize("output_stride,strides", [(16, (2, 4, 8, 16, 16)), (8, (2, 4, 8, 8, 8))])
def test_output_stride_uses_dilation(output_stride, strides):
    model = models.get("resnet50", input_shape=(64, 64, 3), include_top=False, width=0.125,
                       output_stride=output_stride)
    shapes = [model.pyramid_outputs[f"C{k}"].shape[1] for k in range(1, 6)]
    assert shapes == [64 // s for s in strides]
    assert model.get_layer("stage5_block2_conv2_conv").dilation_rate == (2 * 16 // output_stride,) * 2
    # same weights as the stride-32 model: dilation changes no parameter
    ref = models.get("resnet50", input_shape=(64, 64, 3), include_top=False, width=0.125)
    assert count_trainable(model) == count_trainable(ref)
    out = model(images(1, 64))
    assert np.all(np.isfinite(out))


def test_resnet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="output_stride"):
        models.get("resnet18", output_stride=4)
    with pytest.raises(ValueError, match="se_ratio"):
        models.get("resnet18", se_ratio=0.25)
    with pytest.raises(ValueError, match="num_classes"):
        models.get("resnet18", num_classes=0)
    with pytest.raises(ValueError, match="input_shape"):
        models.get("resnet18", input_shape=(32, 32))

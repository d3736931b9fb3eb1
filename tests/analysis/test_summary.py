"""The course's questions on sizes, receptive fields and cost, answered by the analyser."""

import json

import keras
import pytest

from vras_keras import models
from vras_keras.analysis import summary
from vras_keras.layers import image_input


def test_alexnet_course_answers():
    s = summary(models.get("alexnet", groups=1))
    conv1, pool1, conv2 = s.row("conv1_conv"), s.row("pool1"), s.row("conv2_conv")
    assert conv1.output_shape == (None, 55, 55, 96) and conv1.params == 34_944
    assert pool1.output_shape == (None, 27, 27, 96) and pool1.params == 0
    assert conv2.output_shape == (None, 27, 27, 256) and conv2.params == 614_656
    # receptive fields: 11 (jump 4), pool 3x3/2 -> 11 + 2*4 = 19 (jump 8), conv2 5x5 -> 19 + 4*8 = 51
    assert (conv1.rf_size, conv1.rf_jump, conv1.rf_start) == ((11, 11), (4, 4), (5.5, 5.5))
    assert (pool1.rf_size, pool1.rf_jump) == ((19, 19), (8, 8))
    assert conv2.rf_size == (51, 51)
    # conv1 MACs = 55*55*96 outputs * 11*11*3
    assert conv1.macs == 55 * 55 * 96 * 11 * 11 * 3 and conv1.flops == 2 * conv1.macs
    assert s.total_params == 62_378_344


def test_grouped_conv_halves_cost():
    one, two = summary(models.get("alexnet", groups=1)), summary(models.get("alexnet", groups=2))
    assert two.row("conv2_conv").params == 307_456
    assert 2 * two.row("conv2_conv").macs == one.row("conv2_conv").macs


def _stack(kernels):
    inputs = keras.Input((32, 32, 1))
    x = inputs
    for i, k in enumerate(kernels):
        x = keras.layers.Conv2D(1, k, padding="valid", use_bias=False, name=f"conv{i}")(x)
    return keras.Model(inputs, x)


def test_three_3x3_convs_have_the_receptive_field_of_one_7x7():
    three, one = summary(_stack([3, 3, 3])), summary(_stack([7]))
    assert three.rows[-1].rf_size == one.rows[-1].rf_size == (7, 7)
    # weights per (input channel, output channel) pair: 3 * 9 = 27 against 49
    assert three.total_params == 27 and one.total_params == 49
    assert three.rows[-1].output_shape == one.rows[-1].output_shape == (None, 26, 26, 1)
    assert three.rows[-1].rf_start == one.rows[-1].rf_start == (3.5, 3.5)


def test_same_padding_and_dilation_offsets():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(1, 3, strides=2, padding="same", name="c1")(inputs)  # TF pads 0 left, 1 right
    y = keras.layers.Conv2D(1, 3, dilation_rate=2, padding="same", name="c2")(x)
    s = summary(keras.Model(inputs, y))
    assert (s.row("c1").rf_size, s.row("c1").rf_jump, s.row("c1").rf_start) == ((3, 3), (2, 2), (1.5, 1.5))
    # dilation 2: effective 5x5 at jump 2 -> 3 + 4*2 = 11; pad 2 -> start 1.5 + (2 - 2)*2
    assert s.row("c2").rf_size == (11, 11) and s.row("c2").rf_start == (1.5, 1.5)


def test_branches_take_the_largest_receptive_field():
    inputs, x = image_input((16, 16, 3))
    a = keras.layers.Conv2D(4, 1, name="a")(x)
    b = keras.layers.Conv2D(4, 5, padding="same", name="b")(x)
    c = keras.layers.Concatenate(name="cat")([a, b])
    d = keras.layers.Add(name="add")([a, b])
    s = summary(keras.Model(inputs, [c, d]))
    assert s.row("cat").rf_size == s.row("add").rf_size == (5, 5)
    assert s.row("add").macs == 16 * 16 * 4 and s.row("cat").macs == 0
    assert s.row("add").inputs == ["a", "b"]


def test_resnet50_gmacs():
    s = summary(models.get("resnet50"))
    assert s.conv_dense_macs / 1e9 == pytest.approx(4.1, abs=0.1)
    assert s.macs / 1e9 == pytest.approx(4.1, abs=0.1)  # BN / ReLU / add / pooling add < 1 %
    assert s.trainable_params == 25_557_032
    assert s.row("stage5_block3_out").rf_size == (427, 427)


def test_inception_and_densenet_graphs():
    s = summary(models.get("googlenet", input_shape=(64, 64, 3), width=0.25, num_classes=3))
    branch5 = s.row("inception3a_5x5_conv")
    assert s.row("inception3a_concat").rf_size == branch5.rf_size
    assert branch5.rf_size[0] > s.row("inception3a_1x1_conv").rf_size[0]
    d = summary(models.get("densenet_bc", depth=10, growth_rate=4, se_ratio=2))
    assert d.row("block1_layer1_concat").rf_size == d.row("block1_layer1_2_conv").rf_size == (5, 5)
    assert d.row("block1_se").rf_size == (32 + 4, 32 + 4)  # SE sees the whole 32x32 map of RF 5


def test_formats_include_totals():
    s = summary(models.get("resnet_cifar", depth=8, width=0.25))
    table = s.format("table")
    assert "stage3_block1_shortcut" in table and "total" in table
    assert s.format("markdown").splitlines()[0].startswith("| layer | type | output shape")
    csv_text = s.format("csv")
    assert csv_text.splitlines()[-1].startswith(f"total,,,{s.total_params},")
    data = json.loads(s.format("json"))
    assert data["totals"]["params"] == s.total_params and len(data["layers"]) == len(s)
    assert data["layers"][0]["type"] == "InputLayer"
    with pytest.raises(ValueError, match="format"):
        s.format("html")
    with pytest.raises(ValueError, match="did you mean"):
        s.row("stage3_block1_shortcutt")

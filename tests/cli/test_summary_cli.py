import json

from vras_keras.cli import main


def test_vras_summary_json(capsys):
    assert main(["summary", "alexnet", "--set", "groups=1", "--set", "width=0.125", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    conv1 = next(layer for layer in data["layers"] if layer["name"] == "conv1_conv")
    assert conv1["output_shape"] == [None, 55, 55, 12]


def test_vras_summary_table_with_input_shape(capsys):
    assert main(["summary", "resnet_cifar", "--input-shape", "16,16,3", "--set", "depth=8"]) == 0
    out = capsys.readouterr().out
    assert "(None, 16, 16, 3)" in out and "total" in out and "GMACs" in out


def test_vras_summary_errors(capsys):
    assert main(["summary", "alexnet", "--input-shape", "227x227"]) == 2
    assert "--input-shape" in capsys.readouterr().err
    assert main(["summary", "alexnet", "--set", "towers=2"]) == 2
    assert "towers" in capsys.readouterr().err

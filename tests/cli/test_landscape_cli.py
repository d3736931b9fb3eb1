import numpy as np

from vras_keras import models
from vras_keras.cli import main


def test_vras_landscape_on_trained_weights(tmp_path, capsys):
    model = models.get("resnet_cifar", depth=20, width=0.25, num_classes=6, input_shape=(32, 32, 3))
    weights = tmp_path / "w.weights.h5"
    model.save_weights(weights)
    before = [np.array(v) for v in model.weights]
    out = tmp_path / "scan"
    argv = ["landscape", "--model", "resnet_cifar", "--model-args", '{"depth": 20, "width": 0.25, "num_classes": 6, '
            '"input_shape": [32, 32, 3]}', "--weights", str(weights), "--grid", "3", "--num", "16", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "curvature: negative_share=" in printed
    data = np.load(out / "landscape.npz")
    assert data["losses"].shape == (3, 3) and np.all(np.isfinite(data["losses"]))
    assert (out / "contour.png").stat().st_size > 1000 and (out / "surface.png").stat().st_size > 1000
    model.load_weights(weights)
    for b, v in zip(before, model.weights):
        np.testing.assert_array_equal(b, np.asarray(v))


def test_vras_landscape_bad_input(tmp_path, capsys):
    assert main(["landscape", "--model", "resnet_cifar", "--weights", str(tmp_path / "missing.weights.h5")]) == 2
    assert "--weights: no file" in capsys.readouterr().err
    assert main(["landscape", "--model", "resnet_cifar", "--model-args", "{bad"]) == 2
    assert "--model-args is not valid JSON" in capsys.readouterr().err

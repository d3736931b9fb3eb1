import re

import keras
import numpy as np

from vras_keras.cli import main as vras
from vras_keras.cli.quickstart import small_cnn


def test_quickstart_tiny_budget(tmp_path, capsys):
    path = tmp_path / "quick.keras"
    assert vras(["quickstart", "--epochs", "1", "--num", "64", "--num-val", "16", "--image-size", "32",
                 "--batch-size", "32", "--model", "small_cnn", "--save", str(path)]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.search(r"validation accuracy: ([0-9.]+)", out).group(1))
    assert 0.0 <= accuracy <= 1.0
    model = keras.saving.load_model(path)
    assert model.output_shape == (None, 6)
    probs = model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_small_cnn_uses_the_shared_block():
    model = small_cnn(input_shape=(32, 32, 3), num_classes=6, width=4)
    names = [layer.name for layer in model.layers]
    assert names[:2] == ["image", "rescale"]
    assert "block1a_conv" in names and "block1a_bn" in names and "block4b_relu" in names
    assert model.output_shape == (None, 6)


def test_quickstart_rejects_bad_budget(capsys):
    assert vras(["quickstart", "--epochs", "0"]) == 2
    assert "--epochs" in capsys.readouterr().err

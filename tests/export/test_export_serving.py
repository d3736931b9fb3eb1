"""ServingClient: the JSON it sends follows TF Serving's documented REST format; end-to-end on a local server."""

import base64
import shutil
import socket
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.fixtures.tf_serving import FakeTFServing
from vras_keras.export.meta import meta_for_model
from vras_keras.export.saved_model import export_saved_model
from vras_keras.export.serving import ServingClient, ServingError, model_path, parse_predict_response, predict_body


def test_predict_body_row_and_columnar_forms():
    x = np.arange(4, dtype=np.float32).reshape(2, 2)
    assert predict_body(x) == {"instances": [[0.0, 1.0], [2.0, 3.0]]}
    assert predict_body(x, signature_name="s", form="inputs") == {
        "signature_name": "s",
        "inputs": [[0.0, 1.0], [2.0, 3.0]],
    }
    named = {"a": x, "b": np.array([5, 6])}
    assert predict_body(named) == {"instances": [{"a": [0.0, 1.0], "b": 5}, {"a": [2.0, 3.0], "b": 6}]}
    assert predict_body(named, form="inputs") == {"inputs": {"a": [[0.0, 1.0], [2.0, 3.0]], "b": [5, 6]}}
    # binary values are base64-encoded in {"b64": ...} objects
    assert predict_body([b"\x89PNG", b"\xff\xd8"]) == {"instances": [{"b64": "iVBORw=="}, {"b64": "/9g="}]}
    assert predict_body({"image_bytes": [b"\xff\xd8"]}) == {"instances": [{"image_bytes": {"b64": "/9g="}}]}
    with pytest.raises(ValueError, match="form"):
        predict_body(x, form="rows")
    with pytest.raises(ValueError, match="same batch size"):
        predict_body({"a": x, "b": np.zeros(3)})


def test_model_paths_and_response_parsing():
    assert model_path("m") == "/v1/models/m"
    assert model_path("m", version=3) == "/v1/models/m/versions/3"
    assert model_path("m", label="stable") == "/v1/models/m/labels/stable"
    with pytest.raises(ValueError):
        model_path("m", version=1, label="x")
    with pytest.raises(ValueError):
        model_path("a/b")
    rows = {"predictions": [{"p": [0.1, 0.9], "k": [1]}, {"p": [0.8, 0.2], "k": [0]}]}
    parsed = parse_predict_response(rows)
    np.testing.assert_allclose(parsed["p"], [[0.1, 0.9], [0.8, 0.2]])
    assert parse_predict_response({"predictions": [[1, 2]]}, ["image"])["image"].shape == (1, 2)
    assert parse_predict_response({"outputs": {"p": [[1.0]]}})["p"].shape == (1, 1)
    with pytest.raises(ValueError, match="predict response"):
        parse_predict_response({"error": "x"})


@pytest.fixture
def served(classifier, tmp_path):
    meta = meta_for_model(classifier, task="classification", labels=list("abcde"))
    export_saved_model(classifier, meta, str(tmp_path), name="shapes", formats=("saved_model",))
    with FakeTFServing(str(tmp_path)) as server:
        yield server


def test_client_against_a_local_tf_serving_stand_in(served, classifier, images):
    client = ServingClient(served.url)
    expected = classifier(images).numpy()
    out = client.predict_images("shapes", images)
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    assert out["top_k_indices"].shape == (3, 5)
    method, path, body = served.requests[-1]
    assert (method, path) == ("POST", "/v1/models/shapes:predict")
    assert body["signature_name"] == "serving_default" and np.shape(body["instances"]) == (3, 32, 32, 3)

    out = client.predict("shapes", images, version=1, form="inputs", signature_name="serving_default")
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    assert served.requests[-1][1] == "/v1/models/shapes/versions/1:predict"
    assert set(served.requests[-1][2]) == {"signature_name", "inputs"}

    pixels = images.astype(np.uint8)
    pngs = [tf.io.encode_png(p).numpy() for p in pixels]
    out = client.predict_encoded("shapes", pngs)
    np.testing.assert_allclose(out["probabilities"], classifier(pixels.astype(np.float32)).numpy(), atol=1e-5)
    assert served.requests[-1][2] == {
        "signature_name": "serving_bytes",
        "instances": [{"b64": base64.b64encode(p).decode()} for p in pngs],
    }

    assert client.status("shapes")["model_version_status"][0]["state"] == "AVAILABLE"
    signature_defs = client.metadata("shapes")["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "serving_bytes"} <= set(signature_defs)
    assert served.requests[-1][:2] == ("GET", "/v1/models/shapes/metadata")
    with pytest.raises(ServingError, match="HTTP 404.*Servable not found") as error:
        client.predict_images("nope", images)
    assert error.value.status == 404
    with pytest.raises(ServingError, match="HTTP 404"):
        client.predict_images("shapes", images, version=9)


def test_unreachable_server_raises_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match="cannot reach TF Serving"):
        ServingClient(f"http://127.0.0.1:{port}", timeout=2).status("m")
    with pytest.raises(ValueError, match="http"):
        ServingClient("localhost:8501")


@pytest.mark.skipif(shutil.which("tensorflow_model_server") is None, reason="needs tensorflow_model_server on the PATH")
def test_client_against_real_tensorflow_model_server(classifier, images, tmp_path):
    meta = meta_for_model(classifier, task="classification", labels=list("abcde"))
    export_saved_model(classifier, meta, str(tmp_path / "models"), name="shapes", formats=("saved_model",))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # models.config points at /models/... (the container's mount): rewrite the base path for a local server
    config = (tmp_path / "models" / "models.config").read_text().replace('"/models/', f'"{tmp_path / "models"}/')
    (tmp_path / "models" / "models.config").write_text(config)
    process = subprocess.Popen(["tensorflow_model_server", f"--rest_api_port={port}", "--port=0",
                                f"--model_config_file={tmp_path / 'models' / 'models.config'}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = ServingClient(f"http://127.0.0.1:{port}")
        deadline = time.time() + 60
        while True:
            try:
                client.status("shapes")
                break
            except (ConnectionError, ServingError):
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        out = client.predict_images("shapes", images)
        np.testing.assert_allclose(out["probabilities"], classifier(images).numpy(), atol=1e-5)
        pngs = [tf.io.encode_png(p).numpy() for p in images.astype(np.uint8)]
        assert client.predict_encoded("shapes", pngs)["probabilities"].shape == (3, 5)
    finally:
        process.terminate()
        process.wait(timeout=10)

"""A stand-in for TF Serving's REST API, for tests: answers like `tensorflow_model_server` would.

It serves SavedModels from a TF Serving base folder (`savedmodels/NAME/VERSION/`) on 127.0.0.1 in a
background thread, implements the documented request/response forms (row `instances` ->
`predictions`, columnar `inputs` -> `outputs`, `{"b64": ...}` binary values, `signature_name`,
`/versions/N`, model status and metadata, `{"error": ...}` answers) and records every request
(`requests`: list of `(method, path, json_body)`).

Example:
    >>> with FakeTFServing("savedmodels") as server:
    ...     ServingClient(server.url).predict("shapes", images)
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?(?P<rest>:predict|/metadata)?$")


def _decode(value):
    """JSON value -> numpy-compatible value; {"b64": s} -> bytes."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _to_array(values, dtype):
    if dtype == "string":
        return np.array(values, dtype=object)
    return np.asarray(values, dtype=np.float32 if dtype == "float32" else None)


class FakeTFServing:
    """Serves the SavedModels under `base_path` (TF Serving layout) over REST on 127.0.0.1."""

    def __init__(self, base_path: str):
        self.base_path = base_path
        self.requests: list[tuple[str, str, dict | None]] = []
        self._loaded: dict[tuple[str, int], object] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --------------------------------------------------------------------------------------- serving
    def _versions(self, name):
        folder = os.path.join(self.base_path, name)
        if not os.path.isdir(folder):
            return []
        return sorted(int(v) for v in os.listdir(folder) if v.isdigit() and os.path.exists(os.path.join(folder, v, "saved_model.pb")))

    def _model(self, name, version):
        import tensorflow as tf

        versions = self._versions(name)
        if not versions or (version is not None and version not in versions):
            raise LookupError(f"Servable not found for request: Specific({name}, {version})" if version else
                              f"Servable not found for request: Latest({name})")
        version = version or versions[-1]
        if (name, version) not in self._loaded:
            self._loaded[(name, version)] = tf.saved_model.load(os.path.join(self.base_path, name, str(version)))
        return version, self._loaded[(name, version)]

    def _predict(self, model, body):
        import tensorflow as tf

        signature_name = body.get("signature_name", "serving_default")
        if signature_name not in model.signatures:
            raise KeyError(f"Serving signature name: \"{signature_name}\" not found in signature def")
        fn = model.signatures[signature_name]
        specs = fn.structured_input_signature[1]
        names = sorted(specs)
        dtypes = {n: specs[n].dtype.name for n in names}
        if ("instances" in body) == ("inputs" in body):
            raise ValueError("JSON Value: ... Excepting exactly one of 'instances' or 'inputs'")
        if "instances" in body:
            rows = [_decode(r) for r in body["instances"]]
            if len(names) == 1 and not (rows and isinstance(rows[0], dict)):
                feeds = {names[0]: _to_array(rows, dtypes[names[0]])}
            else:
                feeds = {n: _to_array([r[n] for r in rows], dtypes[n]) for n in names}
        else:
            inputs = body["inputs"]
            if len(names) == 1 and not isinstance(inputs, dict):
                inputs = {names[0]: inputs}
            feeds = {n: _to_array(_decode(inputs[n]), dtypes[n]) for n in names}
        outputs = {k: v.numpy().tolist() for k, v in fn(**{k: tf.constant(v) for k, v in feeds.items()}).items()}
        if "instances" in body:
            n = len(next(iter(outputs.values())))
            if len(outputs) == 1:
                return {"predictions": next(iter(outputs.values()))}
            return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(n)]}
        return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}

    def _metadata(self, name, version, model):
        signature_def = {}
        for key, fn in model.signatures.items():
            signature_def[key] = {
                "inputs": {n: {"name": n, "dtype": s.dtype.name} for n, s in fn.structured_input_signature[1].items()},
                "outputs": {n: {"name": n, "dtype": s.dtype.name} for n, s in fn.structured_outputs.items()},
                "method_name": "tensorflow/serving/predict",
            }
        return {"model_spec": {"name": name, "version": str(version)},
                "metadata": {"signature_def": {"signature_def": signature_def}}}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _dispatch(self, method):
                body = None
                if method == "POST":
                    raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                    try:
                        body = json.loads(raw)
                    except json.JSONDecodeError as error:
                        server.requests.append((method, self.path, None))
                        return self._answer(400, {"error": f"JSON Parse error: {error}"})
                server.requests.append((method, self.path, body))
                match = _PATH.match(self.path)
                if not match or (method == "POST") != (match["rest"] == ":predict"):
                    return self._answer(404, {"error": f"Malformed request: {method} {self.path}"})
                name, version = match["name"], int(match["version"]) if match["version"] else None
                try:
                    version, model = server._model(name, version)
                    if match["rest"] == ":predict":
                        return self._answer(200, server._predict(model, body))
                    if match["rest"] == "/metadata":
                        return self._answer(200, server._metadata(name, version, model))
                    return self._answer(200, {"model_version_status": [
                        {"version": str(version), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
                except LookupError as error:
                    return self._answer(404, {"error": str(error).strip("'\"")})
                except (KeyError, ValueError, TypeError) as error:
                    return self._answer(400, {"error": str(error).strip("'\"")})

            def do_GET(self):
                self._dispatch("GET")

            def do_POST(self):
                self._dispatch("POST")

        return Handler

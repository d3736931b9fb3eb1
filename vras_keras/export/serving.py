"""A client for TF Serving's REST API (predict, model status, metadata), standard library only.

TF Serving (see `docker-compose.yml`) serves every model of `savedmodels/`:

```
POST {base_url}/v1/models/{name}[/versions/{N} | /labels/{L}]:predict
     {"signature_name": "serving_default", "instances": [...]}    row format -> {"predictions": [...]}
     {"signature_name": "serving_default", "inputs": {...}}       columnar   -> {"outputs": {...}}
GET  {base_url}/v1/models/{name}[/versions/{N}]                   -> {"model_version_status": [...]}
GET  {base_url}/v1/models/{name}[/versions/{N}]/metadata          -> {"model_spec", "metadata": {"signature_def"}}
```

Binary inputs (encoded images for the `serving_bytes` signature) travel as `{"b64": "<base64>"}`.
Errors come back as `{"error": "..."}` with an HTTP error status; they raise `ServingError`, as do
redirects (never followed) and answers that are not a JSON object (empty, not UTF-8, malformed, a list).
Timeouts, refused or closed connections and answers cut short raise `ConnectionError`. Both name the URL.

Example:
    >>> client = ServingClient("http://localhost:8501")
    >>> out = client.predict("shapes", images)                    # float (N, H, W, 3) 0..255
    >>> out = client.predict_encoded("shapes", [open("a.jpg", "rb").read()])
    >>> out["probabilities"].shape, out["top_k_indices"][:, 0]
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.request
from typing import Any, Sequence

import numpy as np

DEFAULT_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"
FORMS = ("instances", "inputs")
MAX_RESPONSE_BYTES = 256 * 2**20  # a larger answer is refused instead of read into memory


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: a 3xx answer reaches the client as an `HTTPError`."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


class ServingError(RuntimeError):
    """TF Serving answered with an error (`status` is the HTTP status, `message` its `error` field)."""

    def __init__(self, url: str, status: int, message: str):
        super().__init__(f"TF Serving at {url} answered HTTP {status}: {message}")
        self.url, self.status, self.message = url, status, message


def _jsonable(value) -> Any:
    """Arrays -> nested lists; bytes -> {"b64": ...} (TF Serving's encoding of binary strings)."""
    if isinstance(value, (bytes, bytearray)):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSV":
            return [_jsonable(v) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def model_path(name: str, version: int | None = None, label: str | None = None) -> str:
    """`/v1/models/NAME[/versions/N | /labels/L]`."""
    if not name or "/" in name or ":" in name:
        raise ValueError(f"model name must be non-empty without '/' or ':', received {name!r}")
    if version is not None and label is not None:
        raise ValueError("give a model version or a version label, not both")
    path = f"/v1/models/{name}"
    if version is not None:
        if int(version) < 1:
            raise ValueError(f"version must be a positive integer, received {version!r}")
        path += f"/versions/{int(version)}"
    elif label is not None:
        path += f"/labels/{label}"
    return path


def predict_body(inputs, *, signature_name: str | None = None, form: str = "instances") -> dict:
    """The JSON body of a predict request.

    Args:
        inputs: a batch-first array (or list of bytes) for a single-input signature, or a dict
            `{input_name: batch}`.
        signature_name: omitted from the body when None (TF Serving then uses `serving_default`).
        form: `"instances"` (row format: one entry per example; with named inputs each entry is a dict)
            or `"inputs"` (columnar: the batches as they are).
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, received {form!r}")
    body: dict[str, Any] = {}
    if signature_name is not None:
        body["signature_name"] = signature_name
    if form == "inputs":
        body["inputs"] = _jsonable(inputs)
        return body
    if isinstance(inputs, dict):
        sizes = {k: len(v) for k, v in inputs.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"named inputs must have the same batch size in the instances form, received {sizes}")
        n = next(iter(sizes.values()))
        body["instances"] = [{k: _jsonable(v[i]) for k, v in inputs.items()} for i in range(n)]
    else:
        body["instances"] = [_jsonable(x) for x in inputs]
    return body


def parse_predict_response(response: dict, output_names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """`{output_name: batch-first array}` from a `predictions` (row) or `outputs` (columnar) response."""
    default = output_names[0] if output_names and len(output_names) == 1 else "output"
    if "predictions" in response:
        rows = response["predictions"]
        if rows and isinstance(rows[0], dict):
            return {k: np.asarray([row[k] for row in rows]) for k in rows[0]}
        return {default: np.asarray(rows)}
    if "outputs" in response:
        outputs = response["outputs"]
        if isinstance(outputs, dict):
            return {k: np.asarray(v) for k, v in outputs.items()}
        return {default: np.asarray(outputs)}
    raise ValueError(f"not a TF Serving predict response (no 'predictions' or 'outputs'): keys {sorted(response)}")


class ServingClient:
    """Talks to TF Serving's REST API at `base_url` (e.g. `http://localhost:8501`)."""

    def __init__(self, base_url: str = "http://localhost:8501", timeout: float = 30.0):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, received {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    # ---------------------------------------------------------------------------------------- transport
    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        """One HTTP exchange; the answer must be a JSON object.

        Every way the exchange can fail becomes one of two errors naming the URL: `ConnectionError`
        (nothing usable came back: refused, timed out, closed or cut short) or `ServingError` (an answer
        that is an error status, a redirect, which is not followed, or not a JSON object).
        """
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                status = response.status
                raw = response.read(MAX_RESPONSE_BYTES + 1)
                if response.length:  # Content-Length promised more than arrived before the socket closed
                    raise http.client.IncompleteRead(raw, response.length)
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                target = error.headers.get("Location", "?") if error.headers else "?"
                raise ServingError(
                    url,
                    error.code,
                    f"redirect to {target}, which is not followed (point base_url at the server itself)",
                ) from None
            try:
                text = error.read(MAX_RESPONSE_BYTES).decode(errors="replace")
            except (OSError, http.client.HTTPException):
                text = ""
            try:
                message = json.loads(text).get("error", text)
            except (ValueError, AttributeError, RecursionError):
                message = text
            raise ServingError(url, error.code, str(message)[:500] or error.reason) from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                raise ConnectionError(f"TF Serving at {url} did not answer within {self.timeout} s") from None
            raise ConnectionError(
                f"cannot reach TF Serving at {url}: {reason} (is `docker compose up` running?)"
            ) from None
        except TimeoutError:
            raise ConnectionError(f"TF Serving at {url} did not answer within {self.timeout} s") from None
        except http.client.IncompleteRead as error:
            raise ConnectionError(
                f"TF Serving at {url} closed the connection after {len(error.partial)} bytes of the answer (short read)"
            ) from None
        except (http.client.HTTPException, OSError) as error:  # closed socket, reset, malformed status line
            raise ConnectionError(
                f"TF Serving at {url} broke the connection: {type(error).__name__}: {error}"
            ) from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ServingError(url, status, f"answer larger than {MAX_RESPONSE_BYTES // 2**20} MiB")
        if not raw.strip():
            raise ServingError(url, status, "empty answer; expected a JSON object")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ServingError(url, status, f"answer is not UTF-8 text ({error.reason} at byte {error.start}); "
                                            "expected a JSON object") from None
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as error:
            reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            raise ServingError(url, status, f"answer is not valid JSON ({reason}): {text[:80]!r}") from None
        if not isinstance(value, dict):
            raise ServingError(url, status, f"answer is JSON {type(value).__name__}; expected a JSON object")
        return value

    # ------------------------------------------------------------------------------------------- API
    def status(self, name: str, version: int | None = None) -> dict:
        """`GET /v1/models/NAME[/versions/N]`: the model's version states."""
        return self._request("GET", model_path(name, version))

    def metadata(self, name: str, version: int | None = None) -> dict:
        """`GET .../metadata`: the signature definitions."""
        return self._request("GET", model_path(name, version) + "/metadata")

    def predict(
        self,
        name: str,
        inputs,
        *,
        version: int | None = None,
        label: str | None = None,
        signature_name: str | None = None,
        form: str = "instances",
        output_names: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """POST `:predict`; returns `{output_name: batch-first array}`.

        Args:
            name: the served model name.
            inputs: see `predict_body` (arrays, lists of bytes for binary inputs, or a dict by input name).
            version / label: a specific model version (default: the latest).
            signature_name: default `serving_default`.
            form: `"instances"` (row) or `"inputs"` (columnar).
            output_names: names for a single-output signature (TF Serving drops the name then).
        """
        body = predict_body(inputs, signature_name=signature_name, form=form)
        path = model_path(name, version, label) + ":predict"
        response = self._request("POST", path, body)
        try:
            return parse_predict_response(response, output_names)
        except (ValueError, TypeError, KeyError, IndexError) as error:
            raise ServingError(self.base_url + path, 200, f"malformed predict answer: {error}") from None

    def predict_images(self, name: str, images, **kwargs) -> dict[str, np.ndarray]:
        """`serving_default` on images `(N, H, W, 3)` (0..255, at the model's input size)."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4:
            raise ValueError(f"images must be (N, H, W, C), received shape {images.shape}")
        return self.predict(name, images, signature_name=kwargs.pop("signature_name", DEFAULT_SIGNATURE), **kwargs)

    def predict_encoded(self, name: str, encoded: Sequence[bytes], **kwargs) -> dict[str, np.ndarray]:
        """`serving_bytes` on encoded JPEG/PNG files, sent as `{"b64": ...}`."""
        encoded = [bytes(e) for e in encoded]
        return self.predict(name, encoded, signature_name=kwargs.pop("signature_name", BYTES_SIGNATURE), **kwargs)

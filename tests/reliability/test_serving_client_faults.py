"""ServingClient against a tiny local http.server that misbehaves: every fault is a ServingError or a
ConnectionError naming the URL, never a raw urllib / json / http.client exception; redirects are not followed."""

import threading

import numpy as np
import pytest

from tests.fixtures.hostile import misbehaving_server
from vras_keras.export.serving import ServingClient, ServingError


@pytest.fixture
def serve():
    servers = []

    def start(**kwargs):
        server = misbehaving_server(**kwargs)
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


DEEP = b"[" * 100_000 + b"]" * 100_000
CASES = {
    # name: (server behaviour, expected error type, words the message must contain)
    "empty body": (dict(body=b""), ServingError, "empty answer"),
    "malformed JSON": (dict(body=b'{"predictions": [1, 2'), ServingError, "not valid JSON"),
    "non-UTF-8 body": (dict(body=b'{"predictions": "\xff\xfe"}'), ServingError, "not UTF-8"),
    "JSON list, not object": (dict(body=b"[1, 2, 3]"), ServingError, "JSON list"),
    "JSON nested 100,000 deep": (dict(body=DEEP), ServingError, "nested too deeply"),
    "no predictions key": (dict(body=b'{"result": 1}'), ServingError, "malformed predict answer"),
    "ragged predictions": (dict(body=b'{"predictions": [[1, 2], [3]]}'), ServingError, "malformed predict answer"),
    "short read": (dict(body=b'{"predictions": [[1]]}', declared_length=1000), ConnectionError, "short read"),
    "closed socket": (dict(close_early=True), ConnectionError, "broke the connection"),
    "redirect": (dict(status=302, headers=[("Location", "http://example.invalid/steal")]), ServingError,
                 "not followed"),
    "error status, HTML body": (dict(status=500, body=b"<html>oops</html>"), ServingError, "HTTP 500"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_fault_is_a_clear_error_naming_the_url(serve, case):
    behaviour, error_type, words = CASES[case]
    base = serve(**behaviour)
    client = ServingClient(base, timeout=5)
    with pytest.raises(error_type) as info:
        client.predict("m", np.zeros((1, 2), np.float32))
    message = str(info.value)
    assert f"{base}/v1/models/m:predict" in message
    assert words in message
    assert "\n" not in message


def test_timeout_is_a_connection_error_naming_the_url(serve):
    release = threading.Event()
    base = serve(body=b"{}", delay=release)
    try:
        with pytest.raises(ConnectionError, match=r"did not answer within 0.3 s") as info:
            ServingClient(base, timeout=0.3).status("m")
        assert f"{base}/v1/models/m" in str(info.value)
    finally:
        release.set()


def test_status_answer_that_is_a_json_string_is_refused(serve):
    base = serve(body=b'"ok"')
    with pytest.raises(ServingError, match="JSON str; expected a JSON object"):
        ServingClient(base).status("m")


def test_a_good_answer_still_parses(serve):
    base = serve(body=b'{"predictions": [[0.25, 0.75]]}')
    out = ServingClient(base).predict("m", np.zeros((1, 2), np.float32), output_names=["p"])
    np.testing.assert_allclose(out["p"], [[0.25, 0.75]])

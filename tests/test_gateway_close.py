"""The gateway's streamed answer closes its upstream stream when the server calls ``close()`` on it — the
mechanism itself, at the WSGI level: the test holds every reference, so neither reference counting nor the
garbage collector can be what closes the upstream connection."""

import io
import json

from gateway_support import anthropic_stream, client_for

from llm_connector.gateway import make_app
from llm_connector.testing import LocalServer


def _environ(body: bytes) -> dict:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/v1/chat/completions", "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "0", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(), "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def test_close_on_the_streamed_body_closes_the_upstream_while_every_reference_is_held():
    words = [f" w{i}" for i in range(40)]
    body = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
    with LocalServer() as upstream:
        upstream.route("POST", "/v1/messages", anthropic_stream(words, pause=0.25))
        app = make_app(client_for("anthropic", upstream.url))
        started = []
        answer = app(_environ(body), lambda status, headers, exc_info=None: started.append(status))
        parts = iter(answer)
        first = next(parts)
        assert started[0].startswith("200") and first.startswith(b"data: ")
        upstream.wait_for_requests(1)
        sent = upstream.requests[0]
        assert not sent.closed_by_client.wait(0.6)  # held, not closed: the upstream goes on streaming
        answer.close()  # what a WSGI server does when the caller hangs up
        assert sent.closed_by_client.wait(5.0)
        assert answer is not None and parts is not None  # both still referenced up to here

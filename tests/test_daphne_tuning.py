from __future__ import annotations

import io

from proxy_project import daphne_tuning


def test_daphne_tuning_keeps_large_bodies_in_memory_and_big_asgi_chunks():
    daphne_tuning.apply()
    from daphne import http_protocol
    from daphne.server import Server
    from twisted.web.http_headers import Headers

    def body_file(length: int | None) -> object:
        request = http_protocol.WebRequest.__new__(http_protocol.WebRequest)
        request.requestHeaders = Headers({b"upgrade": [b"websocket"]})  # skips the edge checks: only the file
        request.gotLength(length)
        return request.content

    assert isinstance(body_file(5_000_000), io.BytesIO)
    assert not isinstance(body_file(None), io.BytesIO)  # unknown length: spooled as before
    server = Server(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])
    assert server.request_buffer_size == daphne_tuning.REQUEST_BUFFER_SIZE


def test_daphne_tuning_installs_the_edge_request():
    daphne_tuning.apply()
    from daphne import http_protocol

    assert getattr(http_protocol.WebRequest, "edge_checks", False)
    daphne_tuning._install_edge_request()  # idempotent: not wrapped twice
    assert http_protocol.WebRequest.__mro__[1].__name__ == "WebRequest"

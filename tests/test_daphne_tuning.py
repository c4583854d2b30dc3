from __future__ import annotations

import io
from typing import Any

from proxy_project import daphne_tuning


def test_daphne_tuning_keeps_large_bodies_in_memory_and_big_asgi_chunks():
    from twisted.web.http_headers import Headers

    edge_request = daphne_tuning.edge_request_class()

    def body_file(length: int | None) -> object:
        request = edge_request.__new__(edge_request)
        request.requestHeaders = Headers({b"upgrade": [b"websocket"]})  # skips the edge checks: only the file
        request.gotLength(length)
        return request.content

    assert isinstance(body_file(5_000_000), io.BytesIO)
    assert not isinstance(body_file(None), io.BytesIO)  # unknown length: spooled as before
    server = daphne_tuning.edge_server_class()(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])
    assert server.request_buffer_size == daphne_tuning.REQUEST_BUFFER_SIZE


def test_edge_server_builds_edge_channels_with_edge_requests_and_patches_nothing():
    from daphne import http_protocol
    from daphne.cli import CommandLineInterface
    from daphne.server import Server
    from twisted.web import http

    cli = daphne_tuning.edge_command_line()
    assert issubclass(cli, CommandLineInterface) and issubclass(cli.server_class, Server)
    server = cli.server_class(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])
    server.http_factory = http_protocol.HTTPFactory(server)  # what daphne's run() does
    assert isinstance(server.http_factory, daphne_tuning.edge_factory_class())
    channel = server.http_factory.buildProtocol(None)
    assert channel.requestFactory is daphne_tuning.edge_request_class()
    assert getattr(channel.requestFactory, "edge_checks", False)
    # daphne's and Twisted's own names are left as they are
    assert not getattr(http_protocol.WebRequest, "edge_checks", False)
    assert http_protocol.HTTPFactory.buildProtocol.__module__ == "daphne.http_protocol"
    assert http._getContentFile(5_000_000).__class__ is not io.BytesIO


def test_edge_server_freezes_the_loaded_application_before_it_serves(monkeypatch):
    import gc
    import weakref

    from daphne.server import Server

    seen: list[int] = []
    monkeypatch.setattr(Server, "run", lambda self: seen.append(gc.get_freeze_count()))
    class Node:
        pass

    gc.unfreeze()
    try:
        garbage = Node()
        garbage.me = garbage  # type: ignore[attr-defined]  # a cycle: only a collection frees it
        gone = weakref.ref(garbage)
        del garbage
        server = daphne_tuning.edge_server_class()(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])
        server.run()
        assert len(seen) == 1 and seen[0] > 10_000  # then daphne's own run, with everything alive frozen
        assert gone() is None  # collected first, not frozen
    finally:
        gc.unfreeze()


def _edge_channel(request_class: type | None = None) -> tuple[Any, Any]:
    """(channel, transport): an edge server's connection on a StringTransport, its requests
    ``request_class`` (default: the edge server's own)."""
    from twisted.internet.testing import StringTransport

    server = daphne_tuning.edge_server_class()(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])
    server.connections = {}  # as daphne's run() starts it
    channel = daphne_tuning.edge_factory_class()(server).buildProtocol(None)
    if request_class is not None:
        channel.requestFactory = request_class
    transport = StringTransport()
    channel.makeConnection(transport)
    return channel, transport


def test_edge_channel_notes_the_request_line_before_the_body():
    channel, _ = _edge_channel()
    channel.lineReceived(b"POST /v1/messages?beta=true HTTP/1.1")
    request = channel.requests[-1]
    assert request.edge_line == (b"POST", b"/v1/messages?beta=true")
    assert (request._edge_method(), request._edge_path()) == ("POST", "/v1/messages")


def _posted(request_class: type) -> tuple[dict, bytes]:
    """(request.args, body) of a form POST as a channel of the edge server hands it over."""
    seen: list[tuple[dict, bytes]] = []

    class Probe(request_class):  # type: ignore[misc, valid-type]
        def process(self) -> None:
            seen.append((dict(self.args), self.content.read()))

    channel, _ = _edge_channel(Probe)
    channel.dataReceived(b"POST /admin/login/ HTTP/1.1\r\nHost: gw\r\n"
                         b"Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
                         b"Content-Length: 15\r\n\r\nusername=me&a=1")
    assert len(seen) == 1
    return seen[0]


def test_edge_requests_hand_form_bodies_to_the_application_unparsed():
    # Twisted would parse the Content-Type with the email package and the form into request.args
    # for every POST; daphne never reads args (the application gets the raw body).
    from daphne import http_protocol

    assert _posted(daphne_tuning.edge_request_class()) == ({}, b"username=me&a=1")
    assert _posted(http_protocol.WebRequest)[0] == {b"username": [b"me"], b"a": [b"1"]}  # stock Twisted


# The loop under daphne's reactor, as the running reactor reports it (a fresh interpreter each:
# a reactor is installed once per process).
LOOP_PROBE = """
import asyncio, sys
import django
django.setup()  # manage.py serve has Django set up before it serves: that must install no reactor
from proxy_project.daphne_tuning import edge_command_line
assert "twisted.internet.reactor" not in sys.modules
edge_command_line()  # what edge_daphne and serve do first
from twisted.internet import reactor
def report():
    loop = asyncio.get_running_loop()
    print(type(loop).__module__ + "." + type(loop).__name__)
    reactor.stop()
reactor.callLater(0, report)
reactor.run()
"""


def _loop_under_reactor(event_loop: str | None) -> str:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "EVENT_LOOP"}
    if event_loop is not None:
        env["EVENT_LOOP"] = event_loop
    done = subprocess.run([sys.executable, "-c", LOOP_PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_daphne_runs_on_uvloop_by_default_and_on_asyncio_when_asked():
    assert _loop_under_reactor(None) == "uvloop.Loop"
    assert _loop_under_reactor("uvloop") == "uvloop.Loop"
    assert _loop_under_reactor("asyncio").startswith("asyncio.")  # the standard library's selector loop


TLS_PROBE = """
import sys
import django
django.setup()
from proxy_project.daphne_tuning import edge_command_line
edge_command_line(server_tls=sys.argv[1] == "tls")
from twisted.internet import endpoints, tcp
print("tls" if "OpenSSL.SSL" in sys.modules and endpoints.TLSMemoryBIOFactory is not None else "plain")
import autobahn.wamp.message, daphne.ws_protocol  # WebSockets are there, without WAMP's serializers
assert "cbor2" not in sys.modules and not autobahn.wamp.message._HAS_WAMP_FLATBUFFERS
import OpenSSL.SSL  # once daphne is in, a library that wants pyOpenSSL still gets it
import cbor2  # and one that wants cbor2
"""


def _twisted_tls(mode: str) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", TLS_PROBE, mode], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_twisted_comes_without_pyopenssl_unless_a_tls_endpoint_is_asked_for_and_autobahn_without_wamp_serializers():
    assert _twisted_tls("plain") == "plain"
    assert _twisted_tls("tls") == "tls"
    wanted = daphne_tuning.server_tls_wanted
    assert not wanted(["-b", "127.0.0.1", "-p", "8082", "proxy_project.asgi:application"])
    assert not wanted(["-e", "tcp:port=8082:interface=0.0.0.0:backlog=4096", "--fd", "3"])
    assert wanted(["-e", "ssl:443:privateKey=key.pem:certKey=crt.pem", "proxy_project.asgi:application"])
    assert wanted(["--endpoint=ssl:443:privateKey=key.pem", "proxy_project.asgi:application"])


def test_event_loop_choice_refuses_a_misspelt_loop():
    import pytest

    assert daphne_tuning.event_loop_choice({}) == "uvloop"
    assert daphne_tuning.event_loop_choice({"EVENT_LOOP": " AsyncIO "}) == "asyncio"
    with pytest.raises(ValueError, match="EVENT_LOOP='uv-loop'"):
        daphne_tuning.event_loop_choice({"EVENT_LOOP": "uv-loop"})


def test_edge_requests_write_body_chunks_of_a_started_response_and_leave_the_rest_to_daphne():
    import pytest

    seen: list = []

    class Probe(daphne_tuning.edge_request_class()):  # type: ignore[misc]
        def process(self) -> None:
            seen.append(self)

    channel, transport = _edge_channel(Probe)
    channel.dataReceived(b"GET /static/x HTTP/1.1\r\nHost: gw\r\n\r\n")
    (request,) = seen
    with pytest.raises(ValueError, match="not yet been started"):  # daphne's own check still runs
        request.handle_reply({"type": "http.response.body", "body": b"early", "more_body": True})
    request.handle_reply({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for part in (b"one", b"", b"two"):
        request.handle_reply({"type": "http.response.body", "body": part, "more_body": True})
    request.handle_reply({"type": "http.response.body", "body": b"end"})
    request.handle_reply({"type": "http.response.body", "body": b"late", "more_body": True})  # after the end: dropped
    head, _, body = transport.value().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Transfer-Encoding: chunked" in head
    assert body == b"3\r\none\r\n3\r\ntwo\r\n3\r\nend\r\n0\r\n\r\n"


# SPLIT_HEAD: a read that holds a request head and its body reaches Twisted as two parts. Table:
# byte streams a client may send, each delivered in several read patterns; with the split on and
# off (Twisted's reader alone) the requests the application gets and the bytes answered are equal.
_BODY = bytes(range(256)) * 300  # 76,800 bytes, CR and LF among them
_HEAD = (b"POST /admin/login/ HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
         b"Content-Length: %d\r\n\r\n")
SPLIT_STREAMS = {
    "one large POST": _HEAD % len(_BODY) + _BODY,
    "a body holding a blank line": _HEAD % 9000 + b"x" * 4000 + b"\r\n\r\n" + b"y" * 4996,
    "two pipelined POSTs": _HEAD % len(_BODY) + _BODY + _HEAD % 5000 + b"z" * 5000,
    "empty body, then a GET": _HEAD % 0 + b"GET /static/a HTTP/1.1\r\nHost: gw\r\n\r\n" + b"q" * 5000,
    "chunked body (not split)": (b"POST /admin/login/ HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 + b"1388\r\n" + b"c" * 5000 + b"\r\n0\r\n\r\n"),
    "bad header line": b"POST /admin/login/ HTTP/1.1\r\nHost gw\r\nContent-Length: 6000\r\n\r\n" + b"b" * 6000,
    "lower-case header, body longer than announced": (b"POST /admin/login/ HTTP/1.1\r\nhost: gw\r\ncontent-length: 5000\r\n\r\n"
                                                      + b"a" * 9000),
    "head beyond Twisted's limit": b"POST / HTTP/1.1\r\nX: " + b"h" * 17000 + b"\r\nContent-Length: 5\r\n\r\nhello",
}


def _socket_reads(stream: bytes) -> list[bytes]:
    """``stream`` in the 64 KB pieces Twisted reads from a socket."""
    return [stream[i : i + 65536] for i in range(0, len(stream), 65536)]


def _reads(stream: bytes) -> dict[str, list[bytes]]:
    """Read patterns: the whole stream at once, 64 KB socket reads, cuts around the head's end."""
    end = stream.find(b"\r\n\r\n") + 4
    patterns = {"one read": [stream], "64 KB reads": _socket_reads(stream)}
    for cut in (end - 3, end - 1, end, end + 1):
        patterns[f"cut at {cut}"] = [stream[:cut], stream[cut:]]
    return patterns


def _served(reads: list[bytes]) -> tuple[list[tuple[bytes, bytes, list, bytes]], bytes]:
    """(each request the application got: method, uri, headers, body; the bytes written back)."""
    seen: list[tuple[bytes, bytes, list, bytes]] = []

    class Probe(daphne_tuning.edge_request_class()):  # type: ignore[misc]
        def process(self) -> None:
            seen.append((self.method, self.uri, sorted(self.requestHeaders.getAllRawHeaders()), self.content.read()))
            self.setResponseCode(204)
            self.finish()

    channel, transport = _edge_channel(Probe)
    for data in reads:
        channel.dataReceived(data)
    return seen, transport.value()


def test_a_request_head_split_from_its_body_is_parsed_as_twisted_alone_parses_it(monkeypatch: Any) -> None:
    for name, stream in SPLIT_STREAMS.items():
        for pattern, reads in _reads(stream).items():
            monkeypatch.setattr(daphne_tuning, "SPLIT_HEAD", True)
            split = _served(reads)
            monkeypatch.setattr(daphne_tuning, "SPLIT_HEAD", False)
            stock = _served(reads)
            assert split == stock, (name, pattern)
            if name == "one large POST":
                headers = [(b"Content-Length", [b"76800"]), (b"Content-Type", [b"application/json"]), (b"Host", [b"gw"])]
                assert split[0] == [(b"POST", b"/admin/login/", headers, _BODY)]
    assert _served([SPLIT_STREAMS["two pipelined POSTs"]])[0][1][3] == b"z" * 5000
    assert _served([SPLIT_STREAMS["bad header line"]])[1].startswith(b"HTTP/1.1 400")


def test_twisted_takes_the_header_lines_off_the_head_alone(monkeypatch: Any) -> None:
    # The mechanism: Twisted's line reader gets the head by itself, then the body in one piece
    # (it copied the rest of its buffer for each header line, body included).
    from twisted.protocols import basic

    stock = basic.LineReceiver.dataReceived
    sizes: list[int] = []

    def spy(self: Any, data: bytes) -> Any:
        sizes.append(len(data))
        return stock(self, data)

    monkeypatch.setattr(basic.LineReceiver, "dataReceived", spy)
    stream = SPLIT_STREAMS["one large POST"]
    head = stream.find(b"\r\n\r\n") + 4
    _served([stream[:65536]])
    assert sizes == [head, 65536 - head]
    sizes.clear()
    monkeypatch.setattr(daphne_tuning, "SPLIT_HEAD", False)
    _served([stream[:65536]])
    assert sizes == [65536]
    sizes.clear()
    monkeypatch.setattr(daphne_tuning, "SPLIT_HEAD", True)
    _served([SPLIT_STREAMS["chunked body (not split)"]])  # no Content-Length: Twisted's path
    assert len(sizes) == 1


def _handed_over(stream: bytes) -> tuple[Any, list[dict[str, Any]], Any]:
    """(the body file Twisted filled, the ASGI body messages daphne queued, the request) for a
    request fed to an edge channel whose daphne server runs a do-nothing application."""
    import asyncio

    async def application(scope: Any, receive: Any, send: Any) -> None:
        return None

    filled: list[Any] = []

    class Probe(daphne_tuning.edge_request_class()):  # type: ignore[misc]
        def process(self) -> Any:
            filled.append(self.content)
            return super().process()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        channel, _ = _edge_channel(Probe)
        channel.factory.server.application = application
        for data in _socket_reads(stream):
            channel.dataReceived(data)
        request = channel.requests[-1]
        queue = request.application_queue
        messages = []
        while not queue.empty():
            messages.append(queue.get_nowait())
        loop.run_until_complete(asyncio.sleep(0))  # the application task ends
        return filled[0], messages, request
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_daphne_hands_the_collected_body_on_without_a_copy_and_the_request_lets_go_of_it() -> None:
    body = bytes(range(256)) * 800  # 204,800 bytes in four socket reads
    collected, messages, request = _handed_over(_HEAD % len(body) + body)
    assert [m["body"] for m in messages] == [body] and messages[0]["more_body"] is False
    assert messages[0]["body"] is collected.getvalue()  # the very buffer Twisted filled: one copy in memory
    assert request.content.getvalue() == b""  # and the request holds it no more

    big = bytes(range(256)) * 10_000  # 2,560,000 bytes: three ASGI chunks of at most 1 MiB, copies
    collected, messages, request = _handed_over(_HEAD % len(big) + big)
    assert b"".join(m["body"] for m in messages) == big and len(messages) == 3
    assert request.content.getvalue() == b""  # the 2.4 MiB Twisted collected is let go

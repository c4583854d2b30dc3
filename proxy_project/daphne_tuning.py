"""daphne for the gateway, through daphne's and Twisted's public classes: ``edge_command_line()``.

``python -m proxy_project.edge_daphne ARGS`` (daphne's own arguments) runs daphne's
``CommandLineInterface`` with its public ``server_class`` set to ``EdgeServer``; ``manage.py serve``
runs the same class in-process. Nothing in daphne or Twisted is replaced or patched: plain
``daphne proxy_project.asgi:application`` still serves, with daphne's defaults and the edge checks
done by proxy_project/handlers.py once the body is in.

Claude Code requests are often 100 KB to a few MB (tool schemas, long histories). By default
Twisted spools any body of 100,000 bytes or more to a temporary file on disk and daphne then
hands it to the application in 8 KiB ASGI messages (25 messages for 200 KB). ``EdgeRequest``
keeps bodies up to IN_MEMORY_MAX in memory (``gotLength``, the Request method that picks the
body's file) and ``EdgeServer`` passes daphne's public ``request_buffer_size`` of 1 MiB.

Twisted also collects a whole request body before daphne starts the application, so the edge
checks of proxy_project/handlers.py (client key, MAX_REQUEST_BYTES, REQUEST_BODY_TIMEOUT) would
come after a 200 MiB upload has been taken in. ``EdgeRequest`` runs them as the headers arrive:
a refused request gets its 401/413 at once, the rest of its body is drained and dropped (so the
client reads the answer instead of a reset), and the connection is closed; a body that has not
arrived within REQUEST_BODY_TIMEOUT gets 408. A key not yet in the in-process cache is looked up
with the socket paused. Accepted requests go on to daphne unchanged. The request line, which
Twisted hands to a request only with its whole body, is noted by ``EdgeChannel.lineReceived``.
The classes are built on first use: importing daphne installs Twisted's asyncio reactor.

That reactor runs on uvloop's event loop when uvloop is installed (``EVENT_LOOP``, default
``uvloop``; ``asyncio`` keeps the standard library's): ``event_loop_install()`` gives Twisted's
public ``asyncioreactor.install`` a uvloop loop before daphne is imported, and daphne keeps a
reactor that is already asyncio's. Every upstream chunk wakes the loop and is read and written
through it: bench/compare.py (baseline vs asyncio-loop, 3 rounds) measured 10-11 % less CPU per
long paced stream (200-2,000 chunks) and 5 % per stream at 16 clients.

DIRECT_WRITES: Twisted queues every write and sends it on the reactor's next turn, registering the
socket for writability and unregistering it once sent: per streamed chunk two epoll_ctl calls and
a loop turn. ``EdgeChannel`` sends a response write at once (the transport's public
``writeSomeData``) when nothing is queued before it (the reactor's public ``getWriters()`` does not
list the transport); what the socket does not take, and every write while something waits, goes
to Twisted's queue as before, so bytes keep their order and a slow client still fills Twisted's
buffer and pauses the producer. Twisted's channel makes its connections TCP_NODELAY, so a write
that leaves alone is not held back for the previous one's ACK. TLS connections (their transport
is not a plain TCP server) keep Twisted's path. bench/compare.py (baseline vs ``stock-write``, 5
rounds): CPU per paced stream 0.84 / 0.74 at 2,000 chunks (Anthropic / OpenAI dialect), 0.93 at
200, 0.95 for 20 chunks 10 ms apart; 16 clients within noise.

SPLIT_HEAD: Twisted's line reader takes each header line off its buffer with
``buffer.split(b"\r\n", 1)``, which copies the rest of the buffer every time. A socket read holds
up to 64 KB, so the first read of a large POST (its head and the body's first 64 KB) was copied
once per header line: ~12 copies, ~0.8 MB of memcpy for every request of 64 KB or more.
``EdgeChannel.dataReceived`` hands such a read to Twisted in two parts, the head (up to its blank
line) and the rest: the header lines are split off the head alone and the body goes to Twisted's
body reader in one piece. Any split of a byte stream between two ``dataReceived`` calls is one
Twisted must take (TCP delivers arbitrary pieces), so requests are parsed exactly as before; only
a head whose Content-Length announces a body is split (no chunked body, no websocket upgrade).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

IN_MEMORY_MAX = 64 * 1024 * 1024
REQUEST_BUFFER_SIZE = 1024 * 1024
DIRECT_WRITES = True  # a response write goes to the socket at once when nothing is queued (below)
SPLIT_HEAD = True  # a read holding a request head and its body goes to Twisted in two parts (below)
SPLIT_HEAD_MIN = 4096  # smaller reads: the copies cost less than looking for the head's end
HEAD_END = b"\r\n\r\n"
EVENT_LOOPS = ("uvloop", "asyncio")
TLS_ENDPOINTS = ("ssl:", "le:", "lets:")  # Twisted's TLS server endpoint; txacme's Let's Encrypt ones


def event_loop_choice(environ: Mapping[str, str]) -> str:
    """``EVENT_LOOP`` from the environment: ``uvloop`` (default) or ``asyncio``; anything else is an error."""
    choice = (environ.get("EVENT_LOOP") or "uvloop").strip().lower()
    if choice not in EVENT_LOOPS:
        raise ValueError(f"EVENT_LOOP={choice!r}: expected one of {', '.join(EVENT_LOOPS)}")
    return choice


def event_loop_install(environ: Mapping[str, str]) -> str:
    """Install Twisted's asyncio reactor on the chosen loop, before daphne is imported; returns the
    loop in use (``asyncio`` when uvloop was asked for but is not installed, or a reactor is in)."""
    import sys

    choice = event_loop_choice(environ)
    if choice != "uvloop" or "twisted.internet.reactor" in sys.modules:
        return "asyncio"
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    from twisted.internet import asyncioreactor

    asyncioreactor.install(uvloop.new_event_loop())
    return "uvloop"


def server_tls_wanted(argv: Sequence[str]) -> bool:
    """Whether daphne's arguments name a TLS endpoint (``-e ssl:443:privateKey=...``)."""
    return any(arg.split("=", 1)[-1].startswith(TLS_ENDPOINTS) or arg.startswith(TLS_ENDPOINTS) for arg in argv)


# Imports the web server's libraries make only when the package is installed, for features the
# gateway does not use; each is kept out while Twisted, autobahn and daphne are first imported:
# - ``OpenSSL`` (pyOpenSSL, with cryptography's X.509 layer): Twisted's TLS endpoints and
#   startTLS; the gateway listens on plain TCP behind a TLS-terminating proxy (5.5 MiB);
# - ``cbor2``: autobahn's WAMP message serializers (with its flatbuffers schemas), which daphne's
#   WebSocket protocol never uses (1.8 MiB).
SERVER_EXTRAS_SKIPPED = ("cbor2",)


@contextlib.contextmanager
def without_server_extras(wanted: bool) -> Iterator[None]:
    """Import Twisted, autobahn and daphne without the optional packages they would only use for
    what the gateway does not do: pyOpenSSL unless a TLS endpoint is ``wanted``, and
    ``SERVER_EXTRAS_SKIPPED``.

    Each library does without them when they are missing (``twisted[tls]`` is an extra; autobahn
    imports its serializers' packages in ``try: ... except ImportError``). A ``None`` in
    ``sys.modules`` (importlib's documented "not importable") makes the import fail while they are
    first imported; it is removed afterwards, so a library that wants one of them later still
    imports it."""
    import sys

    names = ([] if wanted else ["OpenSSL"]) + list(SERVER_EXTRAS_SKIPPED)
    if "twisted.internet.tcp" in sys.modules or "autobahn" in sys.modules:
        names = []  # the server is imported already: too late to keep anything out
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


@functools.cache
def edge_command_line(server_tls: bool = False) -> type[Any]:
    """daphne's ``CommandLineInterface`` whose server is ``EdgeServer`` (on a Twisted without TLS
    unless ``server_tls``, and an autobahn without WAMP's serializers: ``without_server_extras``)."""
    import os

    with without_server_extras(server_tls):
        event_loop_install(os.environ)
        from daphne.cli import CommandLineInterface  # keeps the reactor installed above, else installs one

        class EdgeCommandLine(CommandLineInterface):  # type: ignore[misc]
            server_class = edge_server_class()

    return EdgeCommandLine


@functools.cache
def edge_server_class() -> type[Any]:
    """daphne's ``Server`` with 1 MiB body messages and ``edge_factory_class()`` for HTTP."""
    from daphne.server import Server

    factory_class = edge_factory_class()

    class EdgeServer(Server):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["request_buffer_size"] = max(kwargs.get("request_buffer_size", 8192), REQUEST_BUFFER_SIZE)
            super().__init__(*args, **kwargs)

        def run(self) -> None:
            from runtime import memory

            memory.startup_freeze()  # the application is loaded: its import-time objects are never scanned again
            super().run()

        # daphne's run() makes its HTTP factory and listens with ``self.http_factory``: the one
        # this server keeps there is the edge factory.
        @property
        def http_factory(self) -> Any:
            return self.__dict__.get("edge_http_factory")

        @http_factory.setter
        def http_factory(self, factory: Any) -> None:
            self.__dict__["edge_http_factory"] = factory if isinstance(factory, factory_class) else factory_class(self)

    return EdgeServer


@functools.cache
def edge_factory_class() -> type[Any]:
    """daphne's ``HTTPFactory`` building ``EdgeChannel`` connections whose requests are ``EdgeRequest``."""
    from daphne import http_protocol
    from twisted.internet import tcp
    from twisted.web import http

    class EdgeChannel(http.HTTPChannel):  # type: ignore[misc]
        def lineReceived(self, line: bytes) -> None:  # noqa: N802 - Twisted's name
            known = len(self.requests)
            super().lineReceived(line)
            if len(self.requests) > known:  # this line began a request: it is its request line
                parts = line.split(b" ")
                self.requests[-1].edge_line = (parts[0], parts[1]) if len(parts) == 3 else (b"GET", b"")

        def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
            """Hand a read holding a request head and body over as the head, then the rest (SPLIT_HEAD)."""
            if SPLIT_HEAD and self.line_mode and len(data) >= SPLIT_HEAD_MIN:
                end = data.find(HEAD_END, 0, self.totalHeadersSize + len(HEAD_END))
                if end > 0 and b"content-length:" in data[:end].lower():
                    cut = end + len(HEAD_END)
                    super().dataReceived(data[:cut])
                    transport = self.transport
                    if transport is None or transport.disconnecting:
                        return  # Twisted's reader stops after a line that closes the connection
                    data = data[cut:]
                    if not data:
                        return
                    if "dataReceived" in self.__dict__:  # Twisted turned this connection's reading off
                        self.__dict__["dataReceived"](data)
                        return
            super().dataReceived(data)

        def write(self, data: bytes) -> None:
            self.writeSequence((data,))

        def writeSequence(self, iovec: Sequence[bytes]) -> None:  # noqa: N802 - Twisted's name
            """Send at once what the socket takes when nothing waits before it (DIRECT_WRITES)."""
            transport: Any = self.transport
            if (DIRECT_WRITES and type(transport) is tcp.Server and transport.connected
                    and not transport.disconnecting
                    and transport not in transport.reactor.getWriters()):  # type: ignore[misc]  # zope interface stubs
                data = iovec[0] if len(iovec) == 1 else b"".join(iovec)
                sent = transport.writeSomeData(data)
                if sent == len(data):
                    return
                # The rest (or all of it, when the socket refused it) queues in Twisted as before:
                # its next turn sends it, or finds the connection lost and closes it.
                iovec = (data[sent:],) if isinstance(sent, int) and sent > 0 else (data,)
            super().writeSequence(iovec)  # Twisted's own: queued for the reactor's next turn

    class EdgeHTTPFactory(http_protocol.HTTPFactory):  # type: ignore[misc]
        protocol = EdgeChannel  # HTTP/1.1 (and websocket upgrades): the gateway serves no HTTP/2

        def buildProtocol(self, addr: Any) -> Any:  # noqa: N802 - Twisted's name
            channel = super().buildProtocol(addr)
            channel.requestFactory = edge_request_class()
            return channel

        def acceptableProtocols(self) -> list[bytes]:  # noqa: N802 - Twisted's name
            return [b"http/1.1"]

    return EdgeHTTPFactory


@functools.cache
def edge_request_class() -> type[Any]:
    from daphne import http_protocol

    return _edge_request_class(http_protocol.WebRequest)


def _call_later(seconds: float, fn: Callable[[], Any]) -> Any:
    from twisted.internet import reactor

    return reactor.callLater(seconds, fn)  # type: ignore[attr-defined, arg-type]  # zope interface stubs


def _edge_request_class(base: type[Any]) -> type[Any]:  # noqa: C901 - one small state machine
    import inspect

    from django.conf import settings
    from twisted.web import http

    from proxy_project.handlers import edge_precheck, refusal_bytes

    # Twisted parses every POST's Content-Type with the email package (~0.17 ms a request, 2.5 %
    # of a 1 MB one) to fill ``request.args`` from form uploads, which daphne never reads: it hands
    # the raw body to the application (Django parses its own forms). Its public constructor
    # argument turns that off (Twisted 24.7+; older ones do not have it and keep parsing).
    form_parsing = "parsePOSTFormSubmission" in inspect.signature(http.Request.__init__).parameters

    class EdgeRequest(base):  # type: ignore[misc, valid-type]
        edge_checks = True
        edge_line: tuple[bytes, bytes] = (b"GET", b"")  # (method, target), noted by EdgeChannel
        _edge_state = "open"  # open | checking | refused | done
        _edge_timer: Any = None
        _edge_waiting = False
        _edge_size = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if form_parsing:
                kwargs.setdefault("parsePOSTFormSubmission", False)
            super().__init__(*args, **kwargs)

        def gotLength(self, length: int | None) -> None:  # noqa: N802 - Twisted's name
            if length is not None and length <= IN_MEMORY_MAX:
                self.content = io.BytesIO()  # Twisted's own spools 100,000 bytes and more to a file
            else:
                super().gotLength(length)
            if self.requestHeaders.hasHeader(b"upgrade"):
                self._edge_state = "done"  # a websocket: the channels router and its auth take it
                return
            verdict = edge_precheck(path=self._edge_path(), headers=self._edge_headers(), length=length)
            if length != 0:
                self._edge_timer = _call_later(settings.REQUEST_BODY_TIMEOUT, self._edge_timeout)
            if isinstance(verdict, int):
                self._edge_refuse(verdict)
            elif verdict is not None:
                self._edge_check(verdict)

        def _edge_check(self, verdict: Coroutine[Any, Any, int | None]) -> None:
            self._edge_state = "checking"
            self.channel.transport.pauseProducing()  # no body is read until the key is known
            task = asyncio.ensure_future(verdict)
            task.add_done_callback(self._edge_checked)

        def _edge_checked(self, task: asyncio.Future[int | None]) -> None:
            # A failed lookup (database down) lets the request through: the handler decides.
            status = None if task.cancelled() or task.exception() is not None else task.result()
            if self._edge_state != "checking":
                return  # the connection went away or timed out meanwhile
            self.channel.transport.resumeProducing()
            if status is not None:
                self._edge_refuse(status)
                return
            self._edge_state = "open"
            if self._edge_waiting:
                self.process()

        def handleContentChunk(self, data: bytes) -> None:  # noqa: N802
            if self._edge_state == "refused":
                return  # drained, not kept
            self._edge_size += len(data)
            if self._edge_size > settings.MAX_REQUEST_BYTES:  # chunked (or longer than it said)
                self._edge_refuse(413)
                return
            super().handleContentChunk(data)

        def process(self) -> Any:
            self._edge_cancel_timer()
            if self._edge_state == "refused":
                self.channel.transport.loseConnection()  # the answer is written: close after it
                return None
            if self._edge_state == "checking":
                self._edge_waiting = True
                return None
            self._edge_state = "done"
            # The body once in memory, not twice for as long as the request lives: trimmed to its
            # size in place (getvalue), the buffer Twisted collected is what daphne's read of a
            # whole body returns (CPython's BytesIO hands it out instead of copying it); once daphne
            # has read it all, this request lets go of it (a body over daphne's 1 MiB ASGI chunk
            # was read as copies).
            content = self.content
            size = len(content.getvalue()) if type(content) is io.BytesIO and not content.closed else -1
            result = super().process()
            if size > 0 and self.content is content and not content.closed and content.tell() == size:
                self.content = io.BytesIO()
            return result

        def handle_reply(self, message: dict[str, Any]) -> None:
            # A body chunk of a response under way is Twisted's Request.write, as daphne's own
            # handle_reply does, minus its per-message checks, debug log call and the lookup of
            # ``http.Request`` through Twisted's deprecation proxy of the module (3 % of a paced
            # chunk's CPU). Everything else (the start, the last chunk, misuse) goes to daphne.
            if (message.get("more_body") and message.get("type") == "http.response.body"
                    and self.startedWriting and not self.finished and self.channel is not None):
                self.write(message.get("body", b""))
                return
            super().handle_reply(message)

        def _edge_refuse(self, status: int) -> None:
            self._edge_state = "refused"
            raw = refusal_bytes(path=self._edge_path(), method=self._edge_method(),
                                headers=self._edge_headers(), status=status)
            self.channel.transport.write(raw)
            self._edge_cancel_timer()
            # Drain the body for at most REQUEST_BODY_TIMEOUT, then close regardless.
            self._edge_timer = _call_later(settings.REQUEST_BODY_TIMEOUT, self.channel.transport.loseConnection)
            if self._edge_waiting:
                self.channel.transport.loseConnection()

        def _edge_timeout(self) -> None:
            self._edge_timer = None
            if self._edge_state in ("open", "checking"):
                self._edge_refuse(408)
                self.channel.transport.loseConnection()

        def _edge_cancel_timer(self) -> None:
            if self._edge_timer is not None and self._edge_timer.active():
                self._edge_timer.cancel()
            self._edge_timer = None

        def connectionLost(self, reason: Any) -> None:  # noqa: N802
            self._edge_cancel_timer()
            if self._edge_state == "checking":
                self._edge_state = "refused"
            super().connectionLost(reason)

        def _edge_headers(self) -> list[tuple[bytes, bytes]]:
            return [(name.lower(), value) for name, values in self.requestHeaders.getAllRawHeaders()
                    for value in values]

        def _edge_path(self) -> str:
            # Twisted hands the request line to the request only with the whole body.
            raw: bytes = self.path or self.edge_line[1]
            return unquote(raw.split(b"?", 1)[0].decode("ascii", "replace"))

        def _edge_method(self) -> str:
            raw: bytes = self.method if self.method != b"(no method yet)" else self.edge_line[0]
            return raw.decode("ascii", "replace")

    return EdgeRequest

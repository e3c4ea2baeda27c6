"""A loopback HTTP server in a thread that stops at once (no poll interval to wait out)."""

from __future__ import annotations

import abc
import selectors
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` on ``127.0.0.1`` with an event loop woken by a socket pair.

    ``serve_forever`` waits out its poll interval (0.5 s by default) on ``shutdown``; this
    loop selects on the listening socket and a wake-up socket, so :meth:`stop` returns as
    soon as the loop thread sees the wake-up byte.
    """

    request_queue_size = 256  # the default backlog of 5 stalls bursts of parallel clients for ~1 s
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, name: str, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away mid-request (Ctrl-C, a dropped stream) is no server error:
        nothing is printed for it (the demo's Ctrl-C prints one line, not a traceback)."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def _loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r:
                        return
                    self.handle_request()  # the socket is readable: accepts without waiting

    def stop(self) -> None:
        """Stop accepting connections and close the listening socket; handler threads are daemons."""
        if self._thread.is_alive():
            self._wake_w.send(b"x")
            self._thread.join()
        self.server_close()
        self._wake_r.close()
        self._wake_w.close()


class LoopbackService(abc.ABC):
    """A test server object backed by a :class:`LoopbackServer`: ``base_url``, start/stop and
    use as a context manager. Subclasses say which handler serves them (it can reach the
    service object through the class attribute :meth:`_handler` sets)."""

    _thread_name = "loopback-server"

    def __init__(self, port: int = 0) -> None:
        self._server: LoopbackServer | None = None
        self._port = port
        """The port to listen on (0: one the system picks)."""

    @abc.abstractmethod
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        """The handler class that serves this service's requests."""

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._server.port}/v1"

    def start(self) -> Self:
        self._server = LoopbackServer(self._handler(), name=self._thread_name, port=self._port)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""A TCP proxy that a fault test puts in front of PostgreSQL or Redis, and can turn into a black hole.

A black hole is the outage that hurts: a refused connection fails at once, but a peer that accepts
and then never answers leaves every caller waiting on its own timeout. Once ``black_hole()`` is
called, new connections are accepted and never forwarded, and nothing more is relayed on the
connections already open.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target`` until told to swallow everything."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.swallowing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def black_hole(self) -> None:
        self.swallowing.set()

    def _serve(self) -> None:
        while True:
            try:
                peer, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(peer)
            if self.swallowing.is_set():
                threading.Thread(target=self._swallow, args=(peer,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                peer.close()
                continue
            upstream.settimeout(None)
            self._sockets.append(upstream)
            threading.Thread(target=self._pipe, args=(peer, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, peer), daemon=True).start()

    def _swallow(self, peer: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while peer.recv(65536):
                pass

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self.swallowing.is_set():
                    sink.sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

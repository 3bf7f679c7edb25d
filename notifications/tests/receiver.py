"""A webhook receiver the tests start on a loopback address: it answers with scripted status codes and
keeps every request it got (headers and body) for the test to check."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The one loopback address the test settings allow-list (ATOM_NOTIFY_ALLOWED_HOSTS).
HOST = "127.0.0.2"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    answers: list[int]
    requests: list[Received] = field(default_factory=list)
    location: str = ""


@contextmanager
def webhook_receiver(*answers: int, location: str = "") -> Iterator[Receiver]:
    """Answer the n-th request with ``answers[n]`` (the last one repeats)."""
    receiver = Receiver(url="", answers=list(answers) or [200], location=location)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.requests.append(Received(path=self.path, headers={k.lower(): v for k, v in self.headers.items()}, body=body))
            status = receiver.answers[min(len(receiver.requests), len(receiver.answers)) - 1]
            self.send_response(status)
            if receiver.location:
                self.send_header("Location", receiver.location)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"no")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer((HOST, 0), Handler)
    receiver.url = f"http://{HOST}:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()

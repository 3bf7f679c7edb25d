"""Outbound webhooks that cannot be turned against Atom's own network.

- http and https only; the host is resolved once and EVERY address it resolves to must be public (not
  private, loopback, link-local, multicast, reserved or unspecified, IPv4-mapped addresses included),
  unless the host or the address is allow-listed in ``ATOM_NOTIFY_ALLOWED_HOSTS`` (names, addresses or
  CIDR networks);
- the connection goes to the address that was checked (a second lookup could answer differently: DNS
  rebinding), with the host name kept for the Host header and for TLS (SNI and certificate check);
- redirects are never followed (a 3xx is a failure), and every request has a timeout;
- the body is signed: ``X-Atom-Signature: sha256=HMAC(secret, "<timestamp>.<body>")`` with the timestamp
  in ``X-Atom-Timestamp``, so a receiver can refuse a replayed or altered request.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from atom.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESPONSE_READ_LIMIT = 64 * 1024


class WebhookRefused(DomainError):
    """The URL may not be called: a scheme other than http(s), or an address that is not public."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="WEBHOOK_REFUSED")


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The value of X-Atom-Signature for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _allowed(host: str, address: IPAddress | None) -> bool:
    for entry in settings.ATOM_NOTIFY_ALLOWED_HOSTS:
        if entry.lower() == host.lower():
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


@dataclass(frozen=True)
class WebhookTarget:
    """A checked URL: where to connect (the address that was checked) and what to ask for."""

    scheme: str
    host: str
    address: str
    port: int
    path: str


def webhook_target(url: str) -> WebhookTarget:
    """Check ``url`` and resolve its host: the target to connect to, or WebhookRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookRefused(f"Not a URL: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookRefused("Webhooks go over http or https only.")
    host = parts.hostname or ""
    if not host or parts.username or parts.password:
        raise WebhookRefused("A webhook URL names a host, and no user or password.")
    port = port or (443 if scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookRefused(f"The host {host} does not resolve: {exc}.") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise WebhookRefused(f"The host {host} does not resolve.")
    for address in addresses:
        if not _public(address) and not _allowed(host, address):
            raise WebhookRefused(
                f"{host} resolves to {address}, which is not a public address (allow-list it in ATOM_NOTIFY_ALLOWED_HOSTS)."
            )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return WebhookTarget(scheme=scheme, host=host, address=str(addresses[0]), port=port, path=path)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address, whatever the host name would resolve to now."""

    def __init__(self, target: WebhookTarget, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """The same over TLS, the certificate checked against the host name."""

    def connect(self) -> None:
        super().connect()
        self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host)


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    body: str


def webhook_post(*, url: str, body: bytes, secret: str, now: float | None = None) -> WebhookResponse:
    """POST ``body`` (JSON) to ``url``, signed, over a checked address, following no redirect.

    Raises WebhookRefused before any connection for a URL that may not be called, OSError (timeouts
    included) when the connection fails."""
    target = webhook_target(url)
    timestamp = int(now if now is not None else time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Atom-Notifications/1",
        "X-Atom-Timestamp": str(timestamp),
        "X-Atom-Signature": webhook_signature(secret=secret, timestamp=timestamp, body=body),
    }
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target, timeout=settings.ATOM_NOTIFY_WEBHOOK_TIMEOUT_SECONDS)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read(RESPONSE_READ_LIMIT).decode("utf-8", "replace")
        return WebhookResponse(status=response.status, body=text)
    except http.client.InvalidURL as exc:
        # A request line the client will never send (BUG-133): no later attempt can do better.
        raise WebhookRefused(f"Not a URL that can be requested: {exc}.") from None
    except http.client.HTTPException as exc:
        raise OSError(f"Bad HTTP answer: {exc!r}") from exc
    finally:
        connection.close()

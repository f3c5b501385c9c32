"""Forwarded headers, believed only from configured proxies (``trusted_proxies``, default: no one).

Behind a reverse proxy the peer address is the proxy's; the proxy names the real client in ``X-Forwarded-For``.
Anyone can send that header, so it is used only when the peer is a trusted proxy: the client is then the
right-most address of the chain that is not itself a trusted proxy (each proxy appends the address it saw).
``X-Forwarded-Proto`` (http/https) is taken from the same trusted peer. The resulting address is what the rate
limit is keyed on and what the access log records. ``ragqa serve`` turns uvicorn's own, laxer handling
(``proxy_headers``, which trusts 127.0.0.1) off, so this middleware is the only place that reads these headers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str]) -> list[Network]:
    """IPs or CIDRs (``127.0.0.1``, ``10.0.0.0/8``, ``::1``); ``ValueError`` naming the setting otherwise."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: {value!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
    return networks


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


class TrustedProxyMiddleware:
    def __init__(self, app: ASGIApp, trusted: Sequence[str]) -> None:
        self.app = app
        self.networks = parse_networks(trusted)

    def _trusted(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def _client(self, peer: str, headers: Headers) -> str | None:
        """The forwarded client address, or None to keep the peer."""
        if not self._trusted(_address(peer)):
            return None
        hops = [hop for value in headers.getlist("x-forwarded-for") for hop in value.split(",") if hop.strip()]
        chosen = None
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                break  # garbage: believe nothing further left
            chosen = str(address)
            if not self._trusted(address):
                break
        return chosen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.networks and scope.get("client"):
            headers = Headers(scope=scope)
            client = self._client(scope["client"][0], headers)
            if client is not None:
                scope = {**scope, "client": (client, 0)}
                proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
        await self.app(scope, receive, send)

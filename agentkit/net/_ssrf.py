"""SSRF guard for the ``fetch`` tool.

Only http(s) URLs whose host resolves exclusively to public addresses may be fetched.
The check runs twice: on every URL before it is requested (first request and every
redirect, for a clear message), and again inside the connection layer
(:class:`GuardedNetworkBackend`), which resolves the host itself, vets every address and
then dials the vetted IP. The second check is the authoritative one: the address that is
checked is the address that is connected to, so DNS rebinding between check and connect
cannot slip a private address through.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore2

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
_BLOCKED_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_LOOSE_IPV4 = re.compile(r"[0-9a-fx.]+", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")

# Indirection so tests can simulate DNS answers without touching the network.
_getaddrinfo = anyio.getaddrinfo


class BlockedURLError(ValueError):
    """The URL points at something the guard refuses (a scheme or a non-public address)."""


class ResolutionError(OSError):
    """The host name could not be resolved."""


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, in any form a resolver would accept.

    Handles dotted quads, IPv6 (with or without brackets, IPv4-mapped) and the legacy
    ``inet_aton`` forms: ``2130706433``, ``127.1``, ``0x7f.0.0.1``, ``0177.0.0.1``.
    """
    h = host.strip()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    h = h.split("%", 1)[0]  # IPv6 zone id
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    candidate = h[:-1] if h.endswith(".") else h
    if candidate and _LOOSE_IPV4.fullmatch(candidate):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(candidate))
        except OSError:
            return None
    return None


def block_reason(ip: IPAddress) -> str | None:
    """Why an address must not be fetched from, or ``None`` if it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = block_reason(embedded)
            return f"{inner} (embedded in {ip})" if inner else None
    checks = (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    )
    for name, hit in checks:
        if hit:
            return f"{name} address {ip}"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return f"shared (carrier-grade NAT) address {ip}"
    if not ip.is_global:
        return f"non-public address {ip}"
    return None


def host_name_reason(host: str) -> str | None:
    name = host.strip().lower().rstrip(".")
    if not name:
        return "the URL has no host"
    if name in _BLOCKED_NAMES or name.endswith(".localhost"):
        return f"host {host!r} is the local machine"
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """All addresses ``host`` resolves to (literals are returned as they are)."""
    literal = parse_ip_literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = await _getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ResolutionError(f"could not resolve host {host!r}: {exc}") from exc
    out: list[IPAddress] = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]
        try:
            ip = ipaddress.ip_address(raw)
        except ValueError:
            continue
        if ip not in out:
            out.append(ip)
    if not out:
        raise ResolutionError(f"could not resolve host {host!r}: no addresses")
    return out


async def vet_host(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses if every one is public, else raise."""
    reason = host_name_reason(host)
    if reason:
        raise BlockedURLError(reason)
    addresses = await resolve(host, port)
    for ip in addresses:
        bad = block_reason(ip)
        if bad:
            shown = "" if parse_ip_literal(host) is not None else f"host {host!r} resolves to "
            raise BlockedURLError(f"{shown}{bad}")
    return addresses


async def check_url(scheme: str, host: str, port: int | None) -> None:
    """Refuse non-http(s) schemes and hosts that are (or resolve to) non-public addresses."""
    scheme = scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = f"{scheme}:" if scheme else "(none)"
        raise BlockedURLError(f"the scheme {shown} is not allowed; only http and https URLs can be fetched")
    await vet_host(host, port or (443 if scheme == "https" else 80))


class GuardedNetworkBackend(httpcore2.AsyncNetworkBackend):
    """An httpcore network backend that only dials vetted public addresses."""

    def __init__(self, inner: httpcore2.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner if inner is not None else httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await vet_host(host, port)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(f"resolving {host!r} timed out") from exc
        except ResolutionError as exc:
            raise httpcore2.ConnectError(str(exc)) from exc
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise BlockedURLError("unix sockets cannot be fetched from")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

"""Stand-ins for the SSRF tests: DNS answers and a "public" address that lands on loopback
(a uniquely named module: a bare ``conftest`` import would find another directory's)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import anyio
import pytest

PUBLIC_IP = "93.184.216.34"  # stands in for a public web server; the test dials loopback instead


def fake_dns(answers: dict[str, list[str] | Callable[[], list[str]]]) -> Callable[..., Any]:
    """A stand-in for ``anyio.getaddrinfo``; unknown names fail like a real resolver."""

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        answer = answers.get(host.rstrip(".").lower())
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        ips = answer() if callable(answer) else answer
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ips]

    return getaddrinfo


def alias_public_ip(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make connections to PUBLIC_IP land on the loopback server; returns the dialled hosts.

    The guard only dials addresses it has vetted, so a download that reaches the fixture
    server through this alias went through the guard's checks, while a direct dial of
    127.0.0.1 would mean the guard was bypassed.
    """
    real_connect = anyio.connect_tcp
    dialled: list[str] = []

    async def connect_tcp(remote_host: Any, remote_port: int, **kwargs: Any) -> Any:
        dialled.append(str(remote_host))
        target = "127.0.0.1" if str(remote_host) == PUBLIC_IP else remote_host
        return await real_connect(target, remote_port, **kwargs)

    monkeypatch.setattr(anyio, "connect_tcp", connect_tcp)
    return dialled

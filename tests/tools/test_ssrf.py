"""The fetch tool's SSRF guard: schemes, address forms, DNS answers, redirects, rebinding."""

from __future__ import annotations

import ipaddress
from typing import Any

import httpcore2
import pytest
from ssrf_helpers import PUBLIC_IP, alias_public_ip, fake_dns

from agentkit.net import _ssrf
from agentkit.net._ssrf import BlockedURLError, GuardedNetworkBackend, block_reason, parse_ip_literal
from agentkit.tools.fetch import FetchArgs, FetchCache, FetchTool

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_ip_literal_forms(host: str, expected: str) -> None:
    assert parse_ip_literal(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize("host", ["example.com", "cafe.be", "deadbeef.example", "0x.example", ""])
def test_names_are_not_literals(host: str) -> None:
    assert parse_ip_literal(host) is None


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "100.64.0.1",
        "::1",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "2002:7f00:1::1",
        "64:ff9b::a00:1",
        "192.0.2.1",
    ],
)
def test_non_public_addresses_are_blocked(ip: str) -> None:
    assert block_reason(ipaddress.ip_address(ip)) is not None


@pytest.mark.parametrize("ip", ["8.8.8.8", PUBLIC_IP, "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(ip: str) -> None:
    assert block_reason(ipaddress.ip_address(ip)) is None


@pytest.fixture
def public_alias(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return alias_public_ip(monkeypatch)


SECRET = b"<html><body><p>internal admin secret</p></body></html>"


@pytest.fixture
def secret_web(web: Any) -> Any:
    web.add("/secret", SECRET)
    web.add("/latest/meta-data/", "ami-id", "text/plain")
    return web


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}/secret",
        "http://localhost:{port}/secret",
        "http://LOCALHOST.:{port}/secret",
        "http://app.localhost:{port}/secret",
        "http://[::1]:{port}/secret",
        "http://[::ffff:127.0.0.1]:{port}/secret",
        "http://0.0.0.0:{port}/secret",
        "http://2130706433:{port}/secret",
        "http://127.1:{port}/secret",
        "http://0x7f.0.0.1:{port}/secret",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/",
        "http://evil.com\\@127.0.0.1:{port}/secret",
        "file:///etc/passwd",
        "ftp://ftp.example.com/file.txt",
        "gopher://example.com:70/_GET",
        "data:text/html,<p>hi</p>",
    ],
)
async def test_refused_targets(template: str, secret_web: Any, make_ctx: Any) -> None:
    url = template.format(port=secret_web.port)
    tool = FetchTool()
    try:
        out = await tool.invoke(FetchArgs(url=url), await make_ctx())
    finally:
        await tool.aclose()
    assert out.is_error
    assert out.text.startswith("Refused to fetch"), out.text
    assert secret_web.hits["/secret"] == 0
    assert secret_web.hits["/latest/meta-data/"] == 0


async def test_octal_form_is_an_invalid_url(secret_web: Any, make_ctx: Any) -> None:
    tool = FetchTool()
    out = await tool.invoke(FetchArgs(url=f"http://0177.0.0.1:{secret_web.port}/secret"), await make_ctx())
    await tool.aclose()
    assert out.is_error and "invalid URL" in out.text
    assert secret_web.hits["/secret"] == 0


async def test_names_resolving_to_private_addresses_are_refused(
    secret_web: Any, make_ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        _ssrf,
        "_getaddrinfo",
        fake_dns(
            {
                "internal.example": ["127.0.0.1"],
                "metadata.example": ["169.254.169.254"],
                "mixed.example": [PUBLIC_IP, "10.0.0.7"],  # every address must be public
            }
        ),
    )
    tool = FetchTool()
    ctx = await make_ctx()
    for host in ("internal.example", "metadata.example", "mixed.example"):
        out = await tool.invoke(FetchArgs(url=f"http://{host}:{secret_web.port}/secret"), ctx)
        assert out.is_error and out.text.startswith("Refused"), out.text
        assert "resolves to" in out.text
    out = await tool.invoke(FetchArgs(url="http://nxdomain.example/"), ctx)
    assert out.is_error and "could not resolve" in out.text
    await tool.aclose()
    assert secret_web.hits["/secret"] == 0


async def test_guarded_fetch_reaches_a_public_host(
    secret_web: Any, make_ctx: Any, monkeypatch: pytest.MonkeyPatch, public_alias: list[str]
) -> None:
    """Control for the redirect tests: a public host is fetched through the guard."""
    monkeypatch.setattr(_ssrf, "_getaddrinfo", fake_dns({"public.example": [PUBLIC_IP]}))
    secret_web.add("/page", "<html><body><article><p>" + "Public page text. " * 20 + "</p></article></body></html>")
    tool = FetchTool()
    out = await tool.invoke(FetchArgs(url=f"http://public.example:{secret_web.port}/page"), await make_ctx())
    await tool.aclose()
    assert not out.is_error, out.text
    assert "Public page text." in out.text
    assert public_alias == [PUBLIC_IP, PUBLIC_IP]  # robots.txt, then the page


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/secret",
        "http://internal.example:{port}/secret",
        "http://[::1]:{port}/secret",
        "http://2130706433:{port}/secret",
        "file:///etc/passwd",
    ],
)
async def test_redirect_to_a_private_target_is_refused(
    location: str, secret_web: Any, make_ctx: Any, monkeypatch: pytest.MonkeyPatch, public_alias: list[str]
) -> None:
    monkeypatch.setattr(
        _ssrf,
        "_getaddrinfo",
        fake_dns(
            {
                "public.example": [PUBLIC_IP],
                "internal.example": ["127.0.0.1"],
            }
        ),
    )
    target = location.format(port=secret_web.port)
    secret_web.reply("/hop", 302, headers={"Location": target})
    tool = FetchTool()
    out = await tool.invoke(FetchArgs(url=f"http://public.example:{secret_web.port}/hop"), await make_ctx())
    await tool.aclose()
    assert out.is_error and out.text.startswith("Refused"), out.text
    assert secret_web.hits["/hop"] == 1  # the first hop was really served …
    assert secret_web.hits["/secret"] == 0  # … and the redirect target never was
    assert public_alias == [PUBLIC_IP, PUBLIC_IP]  # robots.txt, then the first hop


async def test_dns_rebinding_between_check_and_connect_is_caught(
    secret_web: Any, make_ctx: Any, monkeypatch: pytest.MonkeyPatch, public_alias: list[str]
) -> None:
    answers = iter([[PUBLIC_IP], ["127.0.0.1"], ["127.0.0.1"], ["127.0.0.1"]])
    monkeypatch.setattr(_ssrf, "_getaddrinfo", fake_dns({"rebind.example": lambda: next(answers)}))
    tool = FetchTool()
    out = await tool.invoke(FetchArgs(url=f"http://rebind.example:{secret_web.port}/secret"), await make_ctx())
    await tool.aclose()
    assert out.is_error and "loopback" in out.text, out.text
    assert secret_web.hits["/secret"] == 0
    assert public_alias == []  # nothing was dialled at all


async def test_guarded_backend_dials_the_vetted_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ssrf, "_getaddrinfo", fake_dns({"private.example": ["192.168.0.10"]}))
    backend = GuardedNetworkBackend()
    with pytest.raises(BlockedURLError, match=r"private address 192\.168\.0\.10"):
        await backend.connect_tcp("private.example", 80, timeout=2)
    with pytest.raises(BlockedURLError):
        await backend.connect_tcp("127.0.0.1", 80, timeout=2)
    with pytest.raises(BlockedURLError):
        await backend.connect_unix_socket("/var/run/docker.sock")
    with pytest.raises(httpcore2.ConnectError, match="could not resolve"):
        await backend.connect_tcp("nxdomain.example", 80, timeout=2)


async def test_allow_private_hosts_opens_loopback(secret_web: Any, make_ctx: Any) -> None:
    tool = FetchTool(allow_private_hosts=True)
    out = await tool.invoke(FetchArgs(url=secret_web.url("/secret")), await make_ctx())
    await tool.aclose()
    assert not out.is_error and "internal admin secret" in out.text
    # the task file's fetch section can open it too …
    tool = FetchTool()
    ctx = await make_ctx(settings={"fetch": {"allow_private_hosts": True}})
    out = await tool.invoke(FetchArgs(url=secret_web.url("/latest/meta-data/")), ctx)
    assert not out.is_error and "ami-id" in out.text
    # … but never for other schemes
    out = await tool.invoke(FetchArgs(url="file:///etc/passwd"), ctx)
    await tool.aclose()
    assert out.is_error and out.text.startswith("Refused")


def _self_signed(tmp_dir: Any, host: str) -> tuple[str, str]:
    """A certificate for ``host`` and its key, as PEM files."""
    import datetime

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_dir / "cert.pem", tmp_dir / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


async def test_https_through_the_guard_verifies_the_host_name(
    web: Any, tmp_path: Any, make_ctx: Any, monkeypatch: pytest.MonkeyPatch, public_alias: list[str]
) -> None:
    """The guard dials the vetted IP, while TLS still checks the certificate for the name."""
    import ssl

    cert, key = _self_signed(tmp_path, "public.example")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    web.use_tls(server_ctx)
    web.add("/tls", "<html><body><article><p>" + "Served over TLS. " * 20 + "</p></article></body></html>")
    monkeypatch.setattr(_ssrf, "_getaddrinfo", fake_dns({"public.example": [PUBLIC_IP], "other.example": [PUBLIC_IP]}))
    tool = FetchTool(verify=ssl.create_default_context(cafile=cert))
    ctx = await make_ctx()
    out = await tool.invoke(FetchArgs(url=f"https://public.example:{web.port}/tls"), ctx)
    assert not out.is_error, out.text
    assert "Served over TLS." in out.text
    # same address, a name the certificate does not cover: the TLS check still applies
    out = await tool.invoke(FetchArgs(url=f"https://other.example:{web.port}/tls"), ctx)
    await tool.aclose()
    assert out.is_error and "CERTIFICATE_VERIFY_FAILED" in out.text, out.text
    assert public_alias == [PUBLIC_IP] * 3  # robots.txt, then the page twice


async def test_a_shared_cache_never_leaks_private_pages_to_guarded_runs(secret_web: Any, make_ctx: Any) -> None:
    cache = FetchCache()
    trusted, guarded = FetchTool(allow_private_hosts=True, cache=cache), FetchTool(cache=cache)
    url = secret_web.url("/secret")
    out = await trusted.invoke(FetchArgs(url=url), await make_ctx(run_id="trusted"))
    assert not out.is_error and "internal admin secret" in out.text
    out = await guarded.invoke(FetchArgs(url=url), await make_ctx(run_id="guarded"))
    await trusted.aclose()
    await guarded.aclose()
    assert out.is_error and out.text.startswith("Refused")
    assert secret_web.hits["/secret"] == 1

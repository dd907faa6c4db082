"""Whether a webhook URL may be called: no request forgery (SPEC §9).

A URL whose host resolves to any loopback, private, link-local, unique-local, shared (CGNAT),
multicast, reserved, unspecified or cloud-metadata address is refused, at creation and again
before each delivery (DNS can change), unless the endpoint was created with
``--allow-private-network``. Every address the name resolves to must pass: the delivery then
connects to one of the addresses checked, not to a fresh lookup.

The resolver is a parameter so that tests check refusals without any DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

Resolver = Callable[[str, int], Awaitable[list[str]]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# The cloud providers' instance-metadata services (AWS, GCP, Azure, …; AWS's IPv6 one).
METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_REFUSED_NETWORKS = (
    ("a shared (CGNAT) address", ipaddress.ip_network("100.64.0.0/10")),
    ("a unique-local address", ipaddress.ip_network("fc00::/7")),
)


class UnsafeUrl(ValueError):
    """The URL may not be called; the message is a sentence for the operator."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its parts and the addresses its host resolved to."""

    scheme: str
    host: str
    port: int
    addresses: list[str]


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the operating system's resolver gives for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: str) -> str | None:
    """Why connecting to ``address`` is refused, or None when it is a public address."""
    ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA:
        return "a cloud metadata address"
    for label, network in _REFUSED_NETWORKS:
        if ip.version == network.version and ip in network:
            return label
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "a non-public address"),
    )
    return next((label for refused, label in checks if refused), None)


def parse(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; UnsafeUrl if it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"The URL is not valid: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("The URL must start with https:// or http://.")
    if not parts.hostname:
        raise UnsafeUrl("The URL has no host name.")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def check(url: str, *, allow_private: bool, resolve: Resolver = system_resolve) -> Target:
    """The URL's target with its addresses; UnsafeUrl when the URL is malformed, its host does
    not resolve, or (unless ``allow_private``) any of its addresses is not public."""
    scheme, host, port = parse(url)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise UnsafeUrl(f"The host {host} cannot be resolved ({exc}).") from None
    if not addresses:
        raise UnsafeUrl(f"The host {host} has no address.")
    if not allow_private:
        for address in addresses:
            why = refusal(address)
            if why:
                raise UnsafeUrl(
                    f"The host {host} resolves to {address}, {why}: webhooks are only sent "
                    "to public addresses (create the endpoint with --allow-private-network "
                    "to allow it)."
                )
    return Target(scheme, host, port, addresses)

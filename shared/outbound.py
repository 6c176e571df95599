"""Calls to URLs that somebody else gave us (外部回调地址): subscriber webhooks, WeCom and
DingTalk robots, portal callbacks.

Such a URL must not make Huodian a proxy into its own network (server-side request forgery): by
default it may only reach globally routable addresses, never loopback, link-local (the cloud
metadata service at 169.254.169.254), private, shared, multicast, reserved or unspecified ones,
in IPv4 or IPv6, including IPv4 addresses wrapped in IPv6 (``::ffff:127.0.0.1``, 6to4, NAT64).
An operator may allow hosts or networks (``HUODIAN_OUTBOUND_ALLOW``), for an on-premises robot
gateway or the tests' local sinks.

Checked twice: :meth:`OutboundPolicy.check_url` when the URL is registered (a 422
``url_not_allowed``), and :class:`GuardedTransport` on every request, against the addresses the
name resolves to *then* (DNS may have changed since): it resolves once, refuses if any address is
not allowed, and connects to the address it checked, so a second lookup cannot swap it.
URLs the operator configures (the SMS gateway, the e-license service) are not subject to this.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import httpx

from shared.errors import Unprocessable
from shared.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UrlNotAllowed(Unprocessable):
    """The URL points at an address Huodian does not call (外部地址不允许)."""

    code = "url_not_allowed"


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, through the system resolver (without blocking)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is on the public internet, and not a special or internal one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
    special = (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    return address.is_global and not special


def _default_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


@dataclass(frozen=True)
class OutboundPolicy:
    """Which addresses a URL from outside may reach: public ones, plus the operator's allow-list
    of host names (exact, any case) and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = field(default=resolve, compare=False)

    @classmethod
    def from_allow_list(
        cls, entries: Iterable[str], resolver: Resolver = resolve
    ) -> OutboundPolicy:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            entry = entry.strip().strip("[]")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks), resolver)

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        return cls.from_allow_list(settings.outbound_allow)

    def allows_address(self, address: IPAddress) -> bool:
        if any(address in network for network in self.networks):
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return self.allows_address(address.ipv4_mapped)
        return is_public(address)

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            return await self.resolver(host, port)

    def _check(self, host: str, addresses: list[IPAddress]) -> None:
        refused = sorted({str(a) for a in addresses if not self.allows_address(a)})
        if refused or not addresses:
            raise UrlNotAllowed(
                f"the host {host} is an internal or reserved address ({', '.join(refused)}); "
                "Huodian only calls public addresses unless HUODIAN_OUTBOUND_ALLOW lists it"
            )

    async def checked_address(self, host: str, port: int) -> IPAddress:
        """The address to connect to for ``host``: resolved once, every address checked.

        Raises :class:`UrlNotAllowed` if any address is not allowed (a name with one internal
        address among public ones is refused) or the name does not resolve.
        """
        try:
            addresses = await self._addresses(host, port)
        except OSError as exc:
            raise UrlNotAllowed(f"the host {host} does not resolve") from exc
        self._check(host, addresses)
        return addresses[0]

    async def check_url(self, url: str) -> None:
        """Refuse a URL (422 ``url_not_allowed``) that is not http(s) or points inside.

        A name that does not resolve now is accepted (DNS may be down, or not set up yet): the
        check at send time refuses it if it then leads inside.
        """
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise UrlNotAllowed(f"not a valid URL: {exc}") from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise UrlNotAllowed("only http(s) URLs with a host are allowed")
        if self.allows_host(parsed.host):
            return
        try:
            addresses = await self._addresses(parsed.host, _default_port(parsed))
        except OSError:
            return
        self._check(parsed.host, addresses)


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects only where :class:`OutboundPolicy` allows, to the very
    address it checked (the ``Host`` header and TLS name stay the URL's host)."""

    def __init__(
        self, policy: OutboundPolicy, inner: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._policy = policy
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if not self._policy.allows_host(host):
            address = await self._policy.checked_address(host, _default_port(request.url))
            request.url = request.url.copy_with(host=str(address))
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def outbound_client(policy: OutboundPolicy, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """The client for URLs from outside; refusals raise :class:`UrlNotAllowed`."""
    return httpx.AsyncClient(transport=GuardedTransport(policy), timeout=timeout)

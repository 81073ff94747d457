"""Where a webhook may connect: public addresses only, checked on the connection itself.

A merchant chooses its webhook URL, so a URL is untrusted input that must not reach the platform's
own network (metadata services, databases, the admin). Checking the host's addresses before the
POST is not enough: the HTTP client would look the host up again, and a host whose DNS answer
changes in between (DNS rebinding) would lead it to an internal address. So the connection class
of `public_only_session()` looks the host up once, refuses it if any of its addresses is not
public, and connects to those same addresses in turn (the failover urllib3 does with its own
look-up). The Host header, the TLS server name and the certificate check stay the host's: only the
socket's address is pinned.
"""

import ipaddress
import socket

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family, create_connection

# IPv6 prefixes that carry an IPv4 address: what they lead to is that address's business.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # a network's own translator: internal


class NonPublicAddress(Exception):  # noqa: N818 - named for what it is; not an OSError, so urllib3 does not retry it
    """The host has an address that is not public: nothing was sent."""


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `address` is on the public internet: not loopback, private, link-local, shared,
    reserved, documentation or multicast, nor an IPv6 form of such an IPv4 address."""
    if address.version == 6:
        if address in _LOCAL_NAT64:
            return False
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


def public_addresses(host: str, port: int) -> list[tuple]:
    """The host's getaddrinfo() answers (each `(family, type, proto, canonname, sockaddr)`), all of
    them public, else NonPublicAddress. socket.gaierror if it has none."""
    infos = socket.getaddrinfo(host.strip("[]"), port, allowed_gai_family(), socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if not is_public(address):
            raise NonPublicAddress(f"{host} resolves to a non-public address ({address})")
    return infos


class _PublicOnly:
    """urllib3's _new_conn, with the look-up checked and the connection made to what it checked."""

    def _new_conn(self) -> socket.socket:
        try:
            infos = public_addresses(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        error: Exception | None = None
        for *_, sockaddr in infos:
            try:
                return create_connection(
                    sockaddr[:2],  # a literal address: create_connection looks nothing up
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                error = ConnectTimeoutError(self, f"Connection to {self.host} timed out. ({exc})")
            except OSError as exc:
                error = NewConnectionError(self, f"Failed to establish a new connection: {exc}")
        raise error or NewConnectionError(self, "Failed to establish a new connection: no address")


class _HTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _HTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def public_only_session() -> requests.Session:
    """A requests session that connects to public addresses only (NonPublicAddress otherwise),
    with no proxies or credentials taken from the environment."""
    session = requests.Session()
    session.trust_env = False
    adapter = _PublicOnlyAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session

"""Which URLs a webhook or Slack channel may be pointed at (server-side request forgery).

A channel's URL is chosen by a user, and the server then makes requests to it: without a check,
it would read cloud metadata (credentials) or reach services that only trust the local network.
So every address the host resolves to is checked, when the channel is saved and again at each
delivery (the sender also checks the address it actually connected to, which defeats a DNS
answer that changes between the check and the connection):

* link-local addresses (169.254.0.0/16, fe80::/10), the cloud metadata addresses and names are
  always refused;
* private, loopback, unspecified, multicast, reserved and other non-global addresses are refused
  unless ``allow_private`` (``ASSAY_WEBHOOK_ALLOW_PRIVATE=1``: tests, single-machine set-ups).

:func:`guarded_session` is the HTTP client that applies the same rules to the peer of every
connection it opens.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = [
    "METADATA_ADDRESSES",
    "METADATA_HOSTNAMES",
    "UnresolvableTarget",
    "UnsafeTarget",
    "check_address",
    "check_webhook_target",
    "guarded_session",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
# outside the link-local ranges: AWS's IPv6 endpoint, Alibaba Cloud's, Oracle's IPv6 one
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text)
    for text in ("fd00:ec2::254", "100.100.100.200", "fd00:c1::a9fe:a9fe")
)
_LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))


class UnsafeTarget(ValueError):
    """The URL points at an address Assay refuses to send to."""


class UnresolvableTarget(ValueError):
    """The URL's host name does not resolve (it may be temporary)."""


def check_webhook_target(url: str, *, allow_private: bool) -> None:
    """Refuse (``UnsafeTarget``) a URL whose host is, or resolves to, a refused address;
    ``UnresolvableTarget`` when it does not resolve. Both are ValueErrors."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget(f"a webhook URL must be http:// or https://, not {url!r}")
    host = parts.hostname
    if not host:
        raise UnsafeTarget(f"the webhook URL {url!r} has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeTarget(f"the webhook URL {url!r} has an invalid port") from None
    name = host.rstrip(".").lower()
    if name in METADATA_HOSTNAMES:
        raise UnsafeTarget(f"{host} is a cloud metadata service; webhooks never go there")
    for address in _resolve(name, port):
        check_address(address, allow_private=allow_private, host=host)


def check_address(address: str, *, allow_private: bool, host: str | None = None) -> None:
    """Refuse (``UnsafeTarget``) one IP address under the rules above; ``host`` names it."""
    ip = _unwrapped(ipaddress.ip_address(address.split("%", 1)[0]))
    where = f"{host} ({ip})" if host and host != str(ip) else str(ip)
    if ip in METADATA_ADDRESSES:
        raise UnsafeTarget(f"{where} is a cloud metadata address; webhooks never go there")
    if any(ip in network for network in _LINK_LOCAL):
        raise UnsafeTarget(
            f"{where} is link-local (where cloud metadata services live); webhooks never go there"
        )
    if allow_private:
        return
    kind = _non_public_kind(ip)
    if kind:
        raise UnsafeTarget(
            f"{where} is a {kind} address; set ASSAY_WEBHOOK_ALLOW_PRIVATE=1 to allow "
            "private and loopback targets"
        )


def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnresolvableTarget(f"cannot resolve the webhook host {host}: {error}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise UnresolvableTarget(f"the webhook host {host} resolves to no address")
    return addresses


def _unwrapped(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped IPv6 one (``::ffff:169.254.169.254``)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _non_public_kind(ip: IPAddress) -> str | None:
    """A word for why ``ip`` is not a public unicast address, or None when it is one."""
    checks = (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-global", not ip.is_global),
    )
    return next((kind for kind, matches in checks if matches), None)


class _PeerCheckedConnection(HTTPConnection):
    """An HTTP connection that refuses a peer address the target rules refuse."""

    allow_private = False

    def _new_conn(self) -> socket.socket:
        # urllib3's hook for opening the socket (1.26 and 2.x); TLS, if any, comes after it
        sock = super()._new_conn()
        try:
            check_address(sock.getpeername()[0], allow_private=self.allow_private, host=self.host)
        except UnsafeTarget:
            sock.close()
            raise
        return sock


class _PeerCheckedHTTPSConnection(_PeerCheckedConnection, HTTPSConnection):
    """The HTTPS flavour: the peer is checked before the TLS handshake."""


@lru_cache(maxsize=2)
def _peer_checked_pools(allow_private: bool) -> dict[str, type[HTTPConnectionPool]]:
    """Connection-pool classes whose connections check their peer under ``allow_private``."""
    http_connection = type(
        "PeerCheckedConnection", (_PeerCheckedConnection,), {"allow_private": allow_private}
    )
    https_connection = type(
        "PeerCheckedHTTPSConnection",
        (_PeerCheckedHTTPSConnection,),
        {"allow_private": allow_private},
    )
    return {
        "http": type("PeerCheckedPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection}),
        "https": type(
            "PeerCheckedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection}
        ),
    }


class _PeerCheckedAdapter(HTTPAdapter):
    """A transport adapter whose every connection re-checks the address it reached, so a DNS
    answer that changes after :func:`check_webhook_target` cannot redirect the request."""

    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Build requests' pool manager, then swap in the peer-checked pool classes."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _peer_checked_pools(self._allow_private)


def guarded_session(allow_private: bool) -> requests.Session:
    """A requests session whose connections refuse a peer these rules refuse; it takes no
    proxy or .netrc from the environment (a proxy would hide the peer, .netrc would send
    credentials to the target)."""
    session = requests.Session()
    session.trust_env = False
    adapter = _PeerCheckedAdapter(allow_private)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session

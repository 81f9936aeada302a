"""Which URLs a webhook or Slack channel may be pointed at (server-side request forgery).

A channel's URL is chosen by a user, and the server then makes requests to it: without a check,
it would read cloud metadata (credentials) or reach services that only trust the local network.
So every address the host resolves to is checked, when the channel is saved and again at each
delivery (the sender also checks the address it actually connected to, which defeats a DNS
answer that changes between the check and the connection):

* public (global unicast) addresses are allowed;
* private ones — RFC 1918 (10/8, 172.16/12, 192.168/16), unique-local (fc00::/7) and loopback
  (127/8, ::1) — are allowed only with ``allow_private`` (``ASSAY_WEBHOOK_ALLOW_PRIVATE=1``:
  tests, single-machine set-ups);
* everything else is always refused: link-local addresses (169.254.0.0/16, fe80::/10, where
  cloud metadata services live), the cloud metadata addresses and names, unspecified
  (0.0.0.0, ::), multicast, reserved (240/4, broadcast), site-local, and every other
  non-global range (shared 100.64/10, documentation, benchmarking, "this network" 0/8).

An IPv6 address that embeds an IPv4 one (IPv4-mapped, 6to4, the NAT64 prefix) is judged by
the IPv4 address inside.

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
    "PRIVATE_NETWORKS",
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
# what ASSAY_WEBHOOK_ALLOW_PRIVATE admits besides loopback: RFC 1918 and unique-local
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(text)
    for text in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeTarget(ValueError):
    """The URL points at an address Assay refuses to send to."""


class UnresolvableTarget(ValueError):
    """The URL's host name does not resolve (it may be temporary)."""


def check_webhook_target(url: str, *, allow_private: bool) -> None:
    """Refuse (``UnsafeTarget``) a URL whose host is, or resolves to, a refused address;
    ``UnresolvableTarget`` when it does not resolve. Both are ValueErrors."""
    # the messages never quote the URL: they reach the delivery log, and a URL may be a secret
    try:
        parts = urlsplit(url)
    except ValueError:
        raise UnsafeTarget("the webhook URL cannot be parsed") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget(f"a webhook URL must be http:// or https://, not {parts.scheme}://")
    host = parts.hostname
    if not host:
        raise UnsafeTarget("the webhook URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeTarget(f"the webhook URL to {host} has an invalid port") from None
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
    if ip.is_link_local:
        raise UnsafeTarget(
            f"{where} is link-local (where cloud metadata services live); webhooks never go there"
        )
    never = _never_kind(ip)
    if never:
        raise UnsafeTarget(f"{where} is {_a(never)} address; webhooks never go there")
    private = _private_kind(ip)
    if private is None or allow_private:
        return
    raise UnsafeTarget(
        f"{where} is a {private} address; set ASSAY_WEBHOOK_ALLOW_PRIVATE=1 to allow "
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
    """The IPv4 address inside an IPv6 one that embeds it: IPv4-mapped
    (``::ffff:169.254.169.254``), 6to4 (``2002:a9fe:a9fe::``) or NAT64 (``64:ff9b::…``)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _never_kind(ip: IPAddress) -> str | None:
    """A word for why no setting admits ``ip``, or None. Loopback is asked first: Python
    counts ::1 as reserved (it lies in ::/8)."""
    if ip.is_loopback:
        return None
    checks = (
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
    )
    kind = next((kind for kind, matches in checks if matches), None)
    if kind is None and not ip.is_global and _private_kind(ip) is None:
        kind = "non-global"  # shared (100.64/10), documentation, benchmarking, 0/8 …
    return kind


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _private_kind(ip: IPAddress) -> str | None:
    """``loopback`` or ``private`` for what ASSAY_WEBHOOK_ALLOW_PRIVATE admits, else None."""
    if ip.is_loopback:
        return "loopback"
    if ip.is_private and any(ip in network for network in PRIVATE_NETWORKS):
        return "private"
    return None


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

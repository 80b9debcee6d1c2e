"""Which `Host` headers a server answers to: the defence against DNS rebinding.

A web page on evil.example whose name is made to resolve to 127.0.0.1 reaches a loopback server as its
own origin (same-origin: it may read the answers and send any header); only the `Host` it sends,
evil.example, gives it away. So a server answers only to a Host that is
- a loopback address or `localhost` (what a browser on this machine, or an `ssh -L` tunnel, names);
- the address it is bound to; when it listens on every interface, any IP address (an address cannot be
  rebound: the page's origin is then that address) and this machine's own names;
- a name listed in $POLICYCAST_ALLOWED_HOSTS (comma-separated): a reverse proxy's name, or `streamer`,
  the stack's service name its testers push to.
Ports are not compared: a tunnel or a published port may change them.
"""

from __future__ import annotations

import ipaddress
import os
import socket

ENV = "POLICYCAST_ALLOWED_HOSTS"
ALL_INTERFACES = ("0.0.0.0", "::", "")


def hostname_of(host_header: str | None) -> str | None:
    """The name in a Host header (`name:port`, `[::1]:port`), lower-case, without a trailing dot."""
    h = (host_header or "").strip().lower()
    if not h:
        return None
    if h.startswith("["):
        name = h[1 : h.find("]")] if "]" in h else ""
    else:
        name = h.rsplit(":", 1)[0] if h.count(":") == 1 else h
    return name.rstrip(".") or None


def _ip(name: str):
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def is_loopback(name: str | None) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1)."""
    if not name:
        return False
    ip = _ip(name.strip("[]"))
    return name == "localhost" or (ip is not None and ip.is_loopback)


def configured() -> list[str]:
    return [n.strip().lower().rstrip(".") for n in os.environ.get(ENV, "").split(",") if n.strip()]


class HostRule:
    """`allows(host_header)` for a server bound to `bind`."""

    def __init__(self, bind: str, extra=()):
        self.bind, self.any_ip = bind, bind in ALL_INTERFACES
        self.names = {"localhost", *configured(), *(n.lower() for n in extra)}
        if self.any_ip:
            self.names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        elif _ip(bind) is None:
            self.names.add(bind.lower())

    def allows(self, host_header: str | None) -> bool:
        name = hostname_of(host_header)
        if name is None:
            return False
        if name in self.names or name.endswith(".localhost"):
            return True
        ip = _ip(name)
        return ip is not None and (ip.is_loopback or self.any_ip or ip == _ip(self.bind))

    def refusal(self, host_header: str | None) -> str:
        what = "loopback addresses, localhost" + (", any IP address" if self.any_ip else f", {self.bind}")
        return (
            f"Host {host_header or '(none)'!r} is not a name of this server (it answers to {what}"
            f"{', ' + ', '.join(sorted(self.names - {'localhost'})) if self.names - {'localhost'} else ''}); "
            f"add a name with {ENV}=name1,name2"
        )

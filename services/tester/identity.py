"""A tester's friendly id in the stack: `tester-1`, `tester-2`, ... stable across a restart of the same replica.

The tile, the eval folder (`eval/<tester id>/`) and the metric labels all carry the id, so it must say
which replica it is and stay the same when that replica restarts. `test.id` may hold `{replica}`
(compose.yaml: `test.id=tester-{replica}`), replaced at start by the replica's number:

1. `TESTER_SLOT`, when set: Swarm's `{{.Task.Slot}}` (compose.deploy.yaml), or the slot `make testers`
   gives each one-off container of a named experiment (`docker compose run -e TESTER_SLOT=N`);
2. else the number of the container's own name, by reverse DNS of its address: Docker's embedded DNS
   (the nameserver in /etc/resolv.conf) names a compose replica `<project>-tester-<N>.<network>`, and a
   restarted container keeps its name. The PTR query goes to that nameserver itself: the system resolver
   would answer from /etc/hosts, which holds only the hostname (the container's id);
3. else the hostname: unique, not friendly (one line says so).
"""

from __future__ import annotations

import logging
import os
import random
import re
import socket
import struct

log = logging.getLogger("tester")
PLACEHOLDER = "{replica}"
# compose v2 names a scaled replica <project>-<service>-<N>; a `compose run` one-off <project>-<service>-run-<hex>
REPLICA_RE = re.compile(r"^(?!.*-run-[0-9a-f]{12}$).+-(\d+)$")
DNS_TIMEOUT_S = 1.0
PTR, IN = 12, 1


def expand(spec: str, env=None, lookup=None) -> str:
    """`spec` with `{replica}` replaced by this container's replica number (or its hostname)."""
    if PLACEHOLDER not in spec:
        return spec
    return spec.replace(PLACEHOLDER, replica(env if env is not None else os.environ, lookup or own_name))


def replica(env, lookup) -> str:
    slot = str(env.get("TESTER_SLOT") or "").strip()
    if slot.isdigit() and int(slot) > 0:
        return str(int(slot))
    name = lookup()
    number = replica_number(name) if name else None
    if number is not None:
        return str(number)
    host = socket.gethostname()
    log.info("tester id: no replica number (TESTER_SLOT unset, reverse DNS said %r): using the hostname %s", name, host)
    return host


def replica_number(name: str) -> int | None:
    """`policycast-tester-2.policycast_default` -> 2; a one-off `...-tester-run-0a1b2c3d4e5f` -> None."""
    match = REPLICA_RE.match(name.split(".", 1)[0])
    return int(match.group(1)) if match else None


def own_name() -> str | None:
    """This container's name as its network's nameserver tells it (PTR of its own address), or None."""
    try:
        address = socket.gethostbyname(socket.gethostname())
        server = nameserver()
        return ptr_name(address, (server, 53)) if server else None
    except (OSError, ValueError, IndexError, struct.error):  # no answer, or one we cannot read: the fallback
        return None


def nameserver(resolv_conf: str = "/etc/resolv.conf") -> str | None:
    try:
        with open(resolv_conf) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    return parts[1]
    except OSError:
        pass
    return None


def ptr_name(address: str, server: tuple[str, int], timeout: float = DNS_TIMEOUT_S) -> str | None:
    """The PTR record of an IPv4 address, asked of `server` (host, port) over UDP; None without an answer."""
    qid = random.randrange(1 << 16)
    labels = [*reversed(address.split(".")), "in-addr", "arpa"]
    question = b"".join(bytes([len(x)]) + x.encode() for x in labels) + b"\0" + struct.pack(">HH", PTR, IN)
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question  # recursion desired, one question
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(server)  # connected: a closed port is an error at once, not a timeout
        s.send(query)
        data = s.recv(4096)
    rid, flags, qdcount, ancount = struct.unpack(">HHHH", data[:8])
    if rid != qid or flags & 0x000F or not ancount:  # another answer, an error code, or no record
        return None
    offset = 12
    for _ in range(qdcount):
        offset = _read_name(data, offset)[1] + 4
    for _ in range(ancount):
        offset = _read_name(data, offset)[1]
        rtype, _cls, _ttl, length = struct.unpack(">HHIH", data[offset : offset + 10])
        offset += 10
        if rtype == PTR:
            return _read_name(data, offset)[0].rstrip(".") or None
        offset += length
    return None


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """A DNS name at `offset` (with compression pointers): (name, offset after it in the message)."""
    labels, end, jumps = [], None, 0
    while True:
        n = data[offset]
        if n & 0xC0 == 0xC0:  # a pointer to a name earlier in the message
            if end is None:
                end = offset + 2
            offset = ((n & 0x3F) << 8) | data[offset + 1]
            jumps += 1
            if jumps > 32:
                raise ValueError("DNS name pointer loop")
            continue
        if n == 0:
            return ".".join(labels), end if end is not None else offset + 1
        labels.append(data[offset + 1 : offset + 1 + n].decode("ascii", "replace"))
        offset += 1 + n

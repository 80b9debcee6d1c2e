"""Friendly tester ids in the stack (services/tester/identity.py): `tester-{replica}` becomes tester-1, tester-2...
from Swarm's task slot, or from the container's name as Docker's DNS gives it back for its address (here a
real UDP nameserver on 127.0.0.1 answering like Docker's embedded one), stable across restarts."""

import socket
import struct
import threading

import pytest

from services.tester.identity import expand, ptr_name, replica_number


@pytest.mark.parametrize(
    "name, number",
    [
        ("policycast-tester-1.policycast_default", 1),  # compose v2: <project>-<service>-<N>.<network>
        ("policycast-e2e-4242-tester-12.policycast-e2e-4242_default", 12),  # a project name with digits
        ("policycast_tester_3", None),  # no dash before the number: not compose v2's name
        ("policycast-tester-run-0a1b2c3d4e51.policycast_default", None),  # a `compose run` one-off
        ("6f37abcee3dd", None),  # a bare hostname
    ],
)
def test_the_replica_number_is_read_from_the_container_name(name, number):
    assert replica_number(name) == number


def test_the_slot_wins_then_dns_then_the_hostname():
    dns = lambda: "policycast-tester-2.policycast_default"  # noqa: E731
    assert expand("tester-{replica}", {"TESTER_SLOT": "3"}, dns) == "tester-3"  # Swarm's {{.Task.Slot}}
    assert expand("tester-{replica}", {}, dns) == "tester-2"
    assert expand("Reach_train_1-{replica}", {"TESTER_SLOT": ""}, dns) == "Reach_train_1-2"
    # no number anywhere: the hostname, unique if not friendly
    assert expand("tester-{replica}", {}, lambda: None) == f"tester-{socket.gethostname()}"
    assert expand("my-tester", {}, lambda: pytest.fail("no lookup without a placeholder")) == "my-tester"


class Nameserver:
    """A UDP DNS server on 127.0.0.1 answering PTR queries as Docker's embedded DNS does: the answer's
    owner name is a compression pointer to the question, the target `<container>.<network>.`."""

    def __init__(self, names: dict):
        self.names = names  # address -> name, or None for NXDOMAIN
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = self.sock.getsockname()
        self.queries = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                query, client = self.sock.recvfrom(512)
            except OSError:
                return
            self.queries += 1
            qid = query[:2]
            end = query.index(b"\0", 12) + 5
            labels, i = [], 12
            while query[i]:
                labels.append(query[i + 1 : i + 1 + query[i]].decode())
                i += 1 + query[i]
            address = ".".join(reversed(labels[:4]))
            name = self.names.get(address)
            if name is None:
                self.sock.sendto(qid + struct.pack(">HHHHH", 0x8183, 1, 0, 0, 0) + query[12:end], client)
                continue
            rdata = b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"
            answer = b"\xc0\x0c" + struct.pack(">HHIH", 12, 1, 600, len(rdata)) + rdata
            self.sock.sendto(qid + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0) + query[12:end] + answer, client)

    def close(self):
        self.sock.close()


def test_reverse_dns_is_asked_of_the_nameserver_itself():
    server = Nameserver({"172.18.0.5": "policycast-tester-2.policycast_default", "172.18.0.9": None})
    try:
        assert ptr_name("172.18.0.5", server.address) == "policycast-tester-2.policycast_default"
        assert ptr_name("172.18.0.9", server.address) is None  # NXDOMAIN
        name = lambda: ptr_name("172.18.0.5", server.address)  # noqa: E731
        assert expand("tester-{replica}", {}, name) == "tester-2"
        assert expand("tester-{replica}", {}, name) == "tester-2"  # the same after a restart
        assert server.queries == 4
    finally:
        server.close()


def test_no_nameserver_is_no_wait():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()
    with pytest.raises(OSError):  # refused at once (connected UDP); own_name() turns this into the fallback
        ptr_name("172.18.0.5", closed, timeout=5)

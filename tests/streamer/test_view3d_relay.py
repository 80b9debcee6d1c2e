"""The streamer's relay to testers' 3D views (what the compose stack publishes), on real processes."""

import socket
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from services.core.cli import command
from services.streamer import start_in_process
from services.streamer.view3d_relay import Relay, parse_ports
from tests.view3d_client import WireViewer
from tests.waiting import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_a_testers_3d_view_is_reached_through_the_relay(reach_runs, tmp_path):
    relay_ports = [free_port(), free_port()]
    server, hub = start_in_process(0, announce=False, view3d_relay=relay_ports)
    log = open(tmp_path / "tester.log", "w")
    tester = subprocess.Popen(
        command(
            "tester",
            "test.id=far",
            f"test.streamerUrl={server.url}",
            "test.view3d.enabled=true",
            runsDir=reach_runs,
            numEnvs=1,
        ),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        shown = wait_for(
            lambda: (t := _tester(server.url)) and t.get("view3d_url") and t, timeout=120, what="the tester's 3D link"
        )
        relayed = f"http://127.0.0.1:{relay_ports[0]}/"
        assert shown["view3d_url"] == relayed
        # the link is built on the host the browser reached the dashboard by
        port = server.url.rsplit(":", 1)[1]
        assert _tester(f"http://localhost:{port}")["view3d_url"] == f"http://localhost:{relay_ports[0]}/"
        # the tester's own status says it too, once the streamer answered it
        control = hub.channel("far").control
        wait_for(lambda: control.status()["view3d_url"] == relayed, timeout=10, what="the tester told")
        direct = f"http://127.0.0.1:{control.status()['view3d_port']}/"
        assert requests.get(relayed, timeout=10).content == requests.get(direct, timeout=10).content
        with WireViewer(relayed) as page:  # WebSockets through the relay: the world streams
            wait_for(lambda: page.payloads >= 30, timeout=60, what="state payloads through the relay")
    finally:
        tester.terminate()
        tester.wait(30)
        server.stop()
        log.close()


def _tester(url):
    try:
        testers = requests.get(url + "/api/testers", timeout=5).json()
    except requests.ConnectionError:
        return None
    return next((t for t in testers if t["id"] == "far"), None)


class Echo:
    """A TCP server that answers every line with its own name and the line."""

    def __init__(self, name):
        self.name = name
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(1024)
                conn.sendall(self.name.encode() + b":" + data)


def ask(port, text=b"hi"):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(text)
        s.shutdown(socket.SHUT_WR)
        return s.recv(1024)


def test_a_tester_back_elsewhere_keeps_its_relay_port_and_a_full_range_says_so(caplog):
    ports = [free_port()]
    relay = Relay(ports)
    old, new = Echo("old"), Echo("new")
    try:
        assert relay.route("t1", "127.0.0.1", old.port) == ports[0]
        assert ask(ports[0]) == b"old:hi"
        assert relay.route("t1", "127.0.0.1", new.port) == ports[0]  # restarted on another port
        assert ask(ports[0]) == b"new:hi"
        assert relay.route("t2", "127.0.0.1", old.port) is None  # the range is full
        assert "every port of" in caplog.text and "t2 gets no 3D link" in caplog.text
        relay.forget("t1")
        assert relay.route("t2", "127.0.0.1", old.port) == ports[0]
        assert ask(ports[0]) == b"old:hi"
    finally:
        relay.close()


@pytest.mark.parametrize("text, ports", [("58201-58216", range(58201, 58217)), ("7000", range(7000, 7001))])
def test_relay_ports_parse(text, ports):
    assert parse_ports(text) == ports


@pytest.mark.parametrize("text", ["", "a-b", "9-3", "0-4", "65535-65536"])
def test_bad_relay_ports_are_refused(text):
    with pytest.raises(ValueError, match="expects FIRST-LAST ports"):
        parse_ports(text)

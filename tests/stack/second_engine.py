"""A second Docker engine on this machine: the second node of a two-node swarm in one test.

Docker-in-Docker would need a privileged container, which this project's machines refuse (their
capability bounding set lacks CAP_SYS_RESOURCE, and runc cannot grant it). So the second engine is the
same `dockerd` binary in a network namespace of its own, joined to this one by a veth pair: its own
addresses, iptables, bridges, overlay endpoints and image store (a tmpfs), like a second machine on a LAN.
Needs root, `ip`, `nsenter`, `iptables` and `dockerd`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

NS = "pc-node2"
SUBNET = "198.18.213"  # RFC 2544 benchmarking range: unlikely to meet a real network
HOST_IP, NODE_IP = f"{SUBNET}.1", f"{SUBNET}.2"
DATA, EXEC = Path("/var/lib/pc-node2"), Path("/run/pc-node2")


def missing() -> str | None:
    """Why a second engine cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, a second dockerd)"
    tools = [t for t in ("dockerd", "ip", "nsenter", "iptables") if not shutil.which(t)]
    if tools:
        return f"needs {', '.join(tools)}"
    if os.environ.get("DOCKER_HOST"):
        return "the engine under test is not this machine's (DOCKER_HOST is set)"
    return None


def run(*cmd: str, netns: bool = False) -> subprocess.CompletedProcess:
    prefix = ["ip", "netns", "exec", NS] if netns else []
    return subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True)


class SecondEngine:
    def __init__(self, log: Path, registry_port: int):
        self.log, self.registry_port = log, registry_port
        self.proc: subprocess.Popen | None = None

    def docker(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["docker", "-H", f"unix://{EXEC}/docker.sock", *args], capture_output=True, text=True, timeout=timeout
        )

    def start(self) -> None:
        run("ip", "netns", "add", NS)
        run("ip", "link", "add", "pc-node1", "type", "veth", "peer", "name", "pc-node2")
        run("ip", "link", "set", "pc-node2", "netns", NS)
        run("ip", "addr", "add", f"{HOST_IP}/24", "dev", "pc-node1")
        run("ip", "link", "set", "pc-node1", "up")
        for cmd in (
            ["ip", "addr", "add", f"{NODE_IP}/24", "dev", "pc-node2"],
            ["ip", "link", "set", "pc-node2", "up"],
            ["ip", "link", "set", "lo", "up"],
            ["ip", "route", "add", "default", "via", HOST_IP],
        ):
            run(*cmd, netns=True)
        # The registry answers on 127.0.0.1:<port> on both nodes (as a registry published through the routing
        # mesh would), so the images keep one name; Docker speaks plain HTTP to loopback registries only.
        port = str(self.registry_port)
        for cmd in (
            ["sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1"],
            [
                "iptables",
                "-t",
                "nat",
                "-A",
                "OUTPUT",
                "-d",
                "127.0.0.1/32",
                "-p",
                "tcp",
                "--dport",
                port,
                "-j",
                "DNAT",
                "--to-destination",
                f"{HOST_IP}:{port}",
            ],
            [
                "iptables",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-d",
                f"{HOST_IP}/32",
                "-p",
                "tcp",
                "--dport",
                port,
                "-j",
                "MASQUERADE",
            ],
        ):
            run(*cmd, netns=True)
        DATA.mkdir(parents=True, exist_ok=True)
        EXEC.mkdir(parents=True, exist_ok=True)
        run("mount", "-t", "tmpfs", "-o", "size=8g", "pc-node2", str(DATA))  # pulled images: gone with it
        (EXEC / "daemon.json").write_text("{}")
        # nsenter (only the network namespace), not `ip netns exec`: that one remounts /sys in a new mount
        # namespace without the cgroup hierarchies dockerd needs
        self.proc = subprocess.Popen(
            [
                "nsenter",
                f"--net=/var/run/netns/{NS}",
                "dockerd",
                "--config-file",
                str(EXEC / "daemon.json"),
                "--data-root",
                str(DATA),
                "--exec-root",
                str(EXEC),
                "--pidfile",
                str(EXEC / "docker.pid"),
                "-H",
                f"unix://{EXEC}/docker.sock",
                "--cgroup-parent",
                "/pc-node2",
            ],
            stdout=open(self.log, "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while self.docker("info").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the second engine did not start: {self.log.read_text()[-2000:]}")
            time.sleep(1)

    def join(self, token: str) -> None:
        done = self.docker("swarm", "join", "--advertise-addr", NODE_IP, "--token", token, f"{HOST_IP}:2377")
        assert done.returncode == 0, done.stderr
        self.node_id = json.loads(self.docker("info", "--format", "{{json .Swarm}}").stdout)["NodeID"]

    def stop(self) -> None:
        """Everything start() made goes, whatever state it got to."""
        if self.proc and self.proc.poll() is None:
            self.docker("swarm", "leave", "--force")
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        subprocess.run(["umount", "--lazy", str(DATA)], capture_output=True)
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        subprocess.run(["ip", "link", "del", "pc-node1"], capture_output=True)
        shutil.rmtree(EXEC, ignore_errors=True)
        shutil.rmtree(DATA, ignore_errors=True)

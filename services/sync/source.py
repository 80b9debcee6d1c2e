"""Where the runs come from: a local directory or `[user@]host:/path` reached over SSH."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


def is_remote(spec: str) -> bool:
    """rsync's own rule: a ':' before the first '/' means `host:path`."""
    return ":" in spec.split("/", 1)[0]


@dataclass(frozen=True)
class SshOptions:
    port: int | None = None
    identity: str | None = None
    known_hosts: str | None = None

    def command(self) -> str:
        """The `-e` command rsync runs. BatchMode: a missing key fails at once instead of prompting;
        StrictHostKeyChecking: an unknown or changed host key is refused, never silently accepted;
        keep-alives and a connect timeout turn a dead link into a failed pass (retried), not a hang."""
        parts = [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "ServerAliveCountMax=3",
        ]
        if self.port:
            parts += ["-p", str(self.port)]
        if self.identity:
            parts += ["-i", self.identity, "-o", "IdentitiesOnly=yes"]
        if self.known_hosts:
            parts += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        return " ".join(shlex.quote(p) for p in parts)


def with_trailing_slash(spec: str) -> str:
    """`SRC/` makes rsync copy the *contents* of SRC into DST, not SRC itself."""
    return spec if spec.endswith("/") else spec + "/"

"""The local runtime's supervisor (local.py wires it): trainer, sync, streamer and testers as its children.

Each child runs in its own process group with its output prefixed and coloured; a child that dies is
reported, and sync/streamer/testers are restarted with backoff (a finished trainer stays finished).
Ctrl+C / SIGTERM stops them all. Testers can be added while it runs: `python -m services.stack testers`
writes the wanted count per experiment to TESTERS_FILE, which the loop reconciles every second.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.core.signals import stop_on_signals

STATE_DIR = Path(".policycast")
STATE_FILE = STATE_DIR / "local-stack.json"  # pid + children, for `ps`/`down`
TESTERS_FILE = STATE_DIR / "testers.json"  # {"<experiment|latest>": N}, for `testers`
LOG_FILE = STATE_DIR / "stack.log"  # every child's lines, for `logs`; past LOG_MAX_BYTES it becomes stack.log.1
LOG_MAX_BYTES = 32 * 1024**2
COLOURS = ["\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m", "\033[31m"]
RESET = "\033[0m"
STOP_GRACE_S = 10.0
MAX_BACKOFF_S = 30.0


@dataclass
class Spec:
    name: str  # log prefix (tester: its id)
    argv: list[str]
    restart: bool = True
    group: str | None = None  # testers: the experiment they follow


@dataclass
class Child:
    spec: Spec
    proc: subprocess.Popen | None = None
    restarts: int = 0
    started: float = 0.0
    next_start: float = 0.0
    exit_code: int | None = None
    pump: threading.Thread | None = field(default=None, repr=False)


class Supervisor:
    def __init__(
        self, env: dict[str, str], tester_spec: Callable[[str, int], Spec], colour: bool | None = None, out=None
    ):
        self.env = env
        self.tester_spec = tester_spec  # (experiment, index) -> Spec
        self.children: list[Child] = []
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.log = None
        self._testers_mtime = None

    # --- output --------------------------------------------------------------------------------
    def say(self, name: str, line: str, logged: str | None = None) -> None:
        """`line` to the terminal; to the log file `logged` instead when given (a line holding the token)."""
        width = max([8] + [len(c.spec.name) for c in self.children])
        idx = sum(ord(ch) for ch in name) % len(COLOURS)
        prefix = f"{name:<{width}} | "
        with self.lock:
            self.out.write((f"{COLOURS[idx]}{prefix}{RESET}" if self.colour else prefix) + line + "\n")
            self.out.flush()
            if self.log:
                self.log.write(prefix + (line if logged is None else logged) + "\n")
                self.log.flush()
                if self.log.tell() > LOG_MAX_BYTES:  # days of output: keep the newest (`tail -F` follows)
                    self.log.close()
                    os.replace(LOG_FILE, LOG_FILE.with_name(LOG_FILE.name + ".1"))
                    self.log = open(LOG_FILE, "a")

    def _pump(self, child: Child, proc: subprocess.Popen) -> None:
        for raw in proc.stdout:
            self.say(child.spec.name, raw.decode(errors="replace").rstrip("\n"))

    # --- children ------------------------------------------------------------------------------
    def add(self, spec: Spec) -> Child:
        child = Child(spec)
        self.children.append(child)
        self._start(child)
        return child

    def _start(self, child: Child) -> None:
        child.proc = subprocess.Popen(
            child.spec.argv,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # own process group: stop it whole
        child.started, child.exit_code = time.monotonic(), None
        child.pump = threading.Thread(target=self._pump, args=(child, child.proc), daemon=True)
        child.pump.start()
        self.say("stack", f"started {child.spec.name} (pid {child.proc.pid})")

    def _stop(self, child: Child) -> None:
        proc = child.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.say("stack", f"{child.spec.name} ignored SIGTERM for {STOP_GRACE_S:g} s: killing it")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def check(self) -> None:
        """Report children that died; restart the restartable ones with exponential backoff."""
        now = time.monotonic()
        for child in list(self.children):
            proc = child.proc
            if proc is not None and proc.poll() is not None and child.exit_code is None:
                child.exit_code = proc.returncode
                if child.pump:
                    child.pump.join(2)
                ran = now - child.started
                if ran > 60:
                    child.restarts = 0  # it had been healthy: start the backoff afresh
                if child.spec.restart:
                    delay = min(MAX_BACKOFF_S, 2.0**child.restarts)
                    child.next_start = now + delay
                    self.say(
                        "stack", f"{child.spec.name} exited with code {proc.returncode}; restarting in {delay:g} s"
                    )
                else:
                    self.say(
                        "stack",
                        f"{child.spec.name} exited with code {proc.returncode}"
                        + (" (finished)" if proc.returncode == 0 else "; not restarted"),
                    )
            if child.spec.restart and child.exit_code is not None and now >= child.next_start:
                child.restarts += 1
                self._start(child)

    def reconcile_testers(self) -> None:
        """Start or stop testers so each experiment has the count TESTERS_FILE asks for."""
        try:
            mtime = TESTERS_FILE.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._testers_mtime:
            return
        self._testers_mtime = mtime
        try:
            wanted = {str(k): int(v) for k, v in json.loads(TESTERS_FILE.read_text()).items()}
        except (ValueError, OSError, TypeError) as e:
            self.say("stack", f"ignoring {TESTERS_FILE}: {e}")
            return
        for experiment, n in wanted.items():
            mine = [c for c in self.children if c.spec.group == experiment]
            for extra in mine[n:]:
                self._stop(extra)
                self.children.remove(extra)
                self.say("stack", f"stopped {extra.spec.name}")
            used = {c.spec.name for c in mine[:n]}
            index = 1
            for _ in range(n - len(mine)):
                while (spec := self.tester_spec(experiment, index)).name in used:
                    index += 1
                used.add(spec.name)
                self.add(spec)
        self.write_state()

    def write_state(self) -> None:
        procs = [
            {
                "name": c.spec.name,
                "pid": c.proc.pid if c.proc else None,
                "restarts": c.restarts,
                "group": c.spec.group,
                "state": "running" if c.proc and c.proc.poll() is None else f"exited {c.exit_code}",
            }
            for c in self.children
        ]
        tmp = STATE_FILE.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "procs": procs}, indent=1))
        os.replace(tmp, STATE_FILE)

    # --- the loop ------------------------------------------------------------------------------
    def run(self, specs: list[Spec]) -> int:
        STATE_DIR.mkdir(exist_ok=True)
        self.log = open(LOG_FILE, "a")
        # Ctrl+C / SIGTERM (make down, docker stop) stop every child, then this process exits 0.
        with stop_on_signals(lambda _name: self.stopping.set()):
            try:
                for spec in specs:
                    self.add(spec)
                self.write_state()
                while not self.stopping.wait(0.5):
                    self.check()
                    self.reconcile_testers()
                    self.write_state()
            finally:
                self.say("stack", "stopping every service")
                for child in reversed(self.children):
                    self._stop(child)
                STATE_FILE.unlink(missing_ok=True)
                self.say("stack", "stopped")
                self.log.close()
        return 0


def running_pid() -> int | None:
    """The pid of a live local supervisor in this directory, if any."""
    try:
        pid = int(json.loads(STATE_FILE.read_text())["pid"])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, KeyError):
        return None

"""The local-process supervisor with real child processes: prefixed logs, restarts, stop-all, testers."""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from services.stack import supervisor
from services.stack.supervisor import Spec, Supervisor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def wait_until(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def py(code):
    return [sys.executable, "-c", textwrap.dedent(code)]


def start(sup, specs):
    """Run the supervisor in a thread (signal handlers only install from the main thread: skip them)."""

    def run_without_signals():
        orig = signal.signal
        signal.signal = lambda *a: None
        try:
            sup.run(specs)
        finally:
            signal.signal = orig

    t = threading.Thread(target=run_without_signals, daemon=True)
    t.start()
    return t


def test_lines_are_prefixed_and_a_dead_child_is_reported_and_restarted(home):
    out = io.StringIO()
    sup = Supervisor(dict(os.environ), lambda e, i: None, colour=False, out=out)
    flaky = py("""
        import os, sys
        n = int(open('count').read()) if os.path.exists('count') else 0
        open('count', 'w').write(str(n + 1))
        print('run', n + 1, flush=True)
        sys.exit(3)
    """)
    t = start(sup, [Spec("flaky", flaky), Spec("once", py("print('hello from once')"), restart=False)])
    try:
        assert wait_until(lambda: (home / "count").exists() and int((home / "count").read_text()) >= 3)
    finally:
        sup.stopping.set()
        t.join(30)
    text = out.getvalue()
    assert "flaky    | run 1" in text and "flaky    | run 2" in text
    assert "once     | hello from once" in text
    assert "flaky exited with code 3; restarting in 1 s" in text
    assert "flaky exited with code 3; restarting in 2 s" in text  # backoff grows
    assert "once exited with code 0 (finished)" in text
    assert text.count("started once") == 1  # a finished child stays finished
    assert (home / ".policycast" / "stack.log").read_text().count("run 1") == 1


def test_sigterm_stops_every_child_and_its_grandchildren(home):
    script = home / "stack.py"
    script.write_text(
        textwrap.dedent(f"""
        import os, subprocess, sys
        sys.path.insert(0, {ROOT!r})
        from services.stack.supervisor import Spec, Supervisor
        grand = "import subprocess, time; p = subprocess.Popen(['sleep', '300']); open('grand.pid', 'w').write(str(p.pid)); print('up', flush=True); time.sleep(300)"
        # a child that shrugs off SIGTERM: the supervisor must kill it after the grace period
        stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(300)"
        import services.stack.supervisor as s; s.STOP_GRACE_S = 2
        sys.exit(Supervisor(dict(os.environ), None, colour=False).run(
            [Spec('parent', [sys.executable, '-c', grand]), Spec('stubborn', [sys.executable, '-c', stubborn])]))
    """)
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        log = home / ".policycast" / "stack.log"
        # stubborn's "up": it ignores SIGTERM from then on (a SIGTERM before that would simply end it)
        assert wait_until(
            lambda: (
                (home / "grand.pid").exists()
                and supervisor.running_pid() == proc.pid
                and "stubborn | up" in log.read_text()
            )
        )
        state = json.loads((home / ".policycast" / "local-stack.json").read_text())
        pids = [p["pid"] for p in state["procs"]] + [int((home / "grand.pid").read_text())]
        assert all(alive(p) for p in pids)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert wait_until(lambda: not any(alive(p) for p in pids), 10), "a child or grandchild survived"
        out = proc.stdout.read()
        assert "stubborn ignored SIGTERM for 2 s: killing it" in out
        assert not (home / ".policycast" / "local-stack.json").exists()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_testers_file_adds_and_removes_testers_per_experiment(home):
    def tester_spec(experiment, index):
        return Spec(
            f"{experiment}-{index}",
            py("import time; print('tester up', flush=True); time.sleep(300)"),
            group=experiment,
        )

    out = io.StringIO()
    sup = Supervisor(dict(os.environ), tester_spec, colour=False, out=out)
    (home / ".policycast").mkdir()
    supervisor.TESTERS_FILE.write_text(json.dumps({"latest": 1}))
    t = start(sup, [])

    def names():
        state = json.loads(supervisor.STATE_FILE.read_text()) if supervisor.STATE_FILE.exists() else {"procs": []}
        return sorted(p["name"] for p in state["procs"] if p["state"] == "running")

    try:
        assert wait_until(lambda: names() == ["latest-1"])
        supervisor.TESTERS_FILE.write_text(json.dumps({"latest": 2, "Reach_train_x": 2}))
        assert wait_until(lambda: names() == ["Reach_train_x-1", "Reach_train_x-2", "latest-1", "latest-2"])
        supervisor.TESTERS_FILE.write_text(json.dumps({"latest": 1, "Reach_train_x": 0}))
        assert wait_until(lambda: names() == ["latest-1"])
    finally:
        sup.stopping.set()
        t.join(30)
    assert "stopped Reach_train_x-2" in out.getvalue()

"""A tester SIGKILLed under the stack's supervisor (the local runtime of `make up`) is started again, its
tile returns, and its eval file stays valid JSONL: nothing torn, nothing lost. (The compose version,
`restart: unless-stopped`, is checked in tests/stack/test_e2e_docker.py.)"""

import json
import os
import signal
import sys
import textwrap

from tests.faults.helpers import ROOT, argv_streamer, argv_tester, free_port, tiles_live, tiles_of, wait_for

FIELDS = {
    "checkpoint",
    "epoch",
    "frame",
    "return",
    "length",
    "success",
    "reward_terms",
    "metrics",
    "spans_reload",
    "termination",
}


def eval_lines(path):
    """Every line of episodes.jsonl parsed; fails on a torn or partial line."""
    text = path.read_text()
    assert not text or text.endswith("\n"), f"torn last line: {text[-200:]!r}"
    rows = [json.loads(line) for line in text.splitlines()]
    for row in rows:
        assert {"checkpoint", "epoch", "return", "length", "success"} <= set(row), row
        assert set(row) <= FIELDS, row
    return rows


def test_a_killed_tester_is_restarted_its_tile_returns_and_its_eval_file_stays_valid(trained_runs, services, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # the tester steps as fast as it can (episodes end every second or so): the kill lands among writes
    tester = argv_tester(trained_runs, url, "tester-1", "test.realtime=false")
    (home / "stack.py").write_text(
        textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from services.stack.supervisor import Spec, Supervisor
        specs = [Spec("streamer", {argv_streamer(port)!r}),
                 Spec("tester-1", {tester!r})]
        sys.exit(Supervisor(dict(os.environ), None, colour=False).run(specs))
    """)
    )
    stack = services("stack", [sys.executable, home / "stack.py"], tmp_path, cwd=home)
    state_file = home / ".policycast" / "local-stack.json"
    episodes = next(trained_runs.glob("*_train_*")) / "eval" / "tester-1" / "episodes.jsonl"  # its own folder

    def tester_proc():
        try:
            procs = json.loads(state_file.read_text())["procs"]
        except (OSError, ValueError):
            return None
        return next((p for p in procs if p["name"] == "tester-1" and p["state"] == "running"), None)

    try:
        wait_for(lambda: tiles_live(url, ["tester-1"]), 120, step=0.2, what="tester-1's tile live")
        wait_for(lambda: episodes.exists() and len(eval_lines(episodes)) >= 3, 60, step=0.05, what="episodes recorded")
        first = tester_proc()
        os.kill(first["pid"], signal.SIGKILL)
        lines_at_kill = len(eval_lines(episodes))
        again = wait_for(
            lambda: (p := tester_proc()) and p["pid"] != first["pid"] and p,
            60,
            step=0.2,
            what="tester-1 started again by the supervisor",
        )
        assert again["restarts"] >= 1
        frames = tiles_of(url)["tester-1"]["frames_received"]
        tile = wait_for(
            lambda: tiles_live(url, ["tester-1"], {"tester-1": frames}), 60, step=0.2, what="tester-1's tile live again"
        )["tester-1"]
        assert len(tiles_of(url)) == 1  # the same tile, not a second one
        # the new process records on the same file, after the old one's last whole line
        wait_for(lambda: len(eval_lines(episodes)) > lines_at_kill + 2, 60, step=0.2, what="episodes after the restart")
    finally:
        rc = stack.stop()  # SIGTERM: the supervisor stops its children (a SIGKILL would orphan them)
    assert rc == 0, stack.output()[-3000:]
    log = stack.output()
    assert "tester-1 exited with code -9; restarting in" in log, log[-3000:]
    rows = eval_lines(episodes)
    assert all(r["epoch"] == tile["epoch"] and r["length"] == 100 for r in rows), rows[:3]

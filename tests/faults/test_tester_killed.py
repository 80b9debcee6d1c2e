"""A tester SIGKILLed in the local stack (`make up-remote`'s services under the supervisor): it is started
again, its tile returns, and its eval file stays valid JSONL — nothing torn, nothing lost."""
import json
import os
import signal

from tests.faults.helpers import free_port, tiles_live, tiles_of, wait_for


def eval_lines(path):
    """Every line of episodes.jsonl parsed; fails on a torn or partial line."""
    text = path.read_text()
    assert not text or text.endswith("\n"), f"torn last line: {text[-200:]!r}"
    rows = [json.loads(line) for line in text.splitlines()]
    for row in rows:
        assert set(row) == {"checkpoint", "epoch", "return", "length", "success"}, row
    return rows


def test_a_killed_tester_is_restarted_its_tile_returns_and_its_eval_file_stays_valid(trained_runs, services,
                                                                                       tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stack = services("stack", ["services.stack", "--port", port, "up", "--runtime", "local",
                               "--sync-source", f"{trained_runs}/", "--sync-port", free_port(), "--testers", "1"],
                     tmp_path, env={"POLICYCAST_HOME": str(home)})
    state_file = home / ".policycast" / "local-stack.json"

    def tester_proc():
        try:
            procs = json.loads(state_file.read_text())["procs"]
        except (OSError, ValueError):
            return None
        return next((p for p in procs if p["name"] == "tester-1" and p["state"] == "running"), None)

    try:
        tile = wait_for(lambda: tiles_live(url, ["tester-1"]), 120, step=0.2, what="tester-1's tile live")["tester-1"]
        experiment = tile["experiment"]
        episodes = home / "runs-shared" / experiment / "eval" / "episodes.jsonl"
        wait_for(lambda: episodes.exists() and len(eval_lines(episodes)) >= 2, 60, step=0.2,
                 what="episodes recorded")
        first = tester_proc()

        os.kill(first["pid"], signal.SIGKILL)
        lines_at_kill = len(eval_lines(episodes))
        again = wait_for(lambda: (p := tester_proc()) and p["pid"] != first["pid"] and p, 60, step=0.2,
                         what="tester-1 started again by the supervisor")
        assert again["restarts"] >= 1
        frames = tiles_of(url)["tester-1"]["frames_received"]
        tile = wait_for(lambda: tiles_live(url, ["tester-1"], {"tester-1": frames}), 60, step=0.2,
                        what="tester-1's tile live again")["tester-1"]
        assert tile["experiment"] == experiment and len(tiles_of(url)) == 1  # the same tile, not a second one
        # the new process records on the same file, after the old one's last whole line
        wait_for(lambda: len(eval_lines(episodes)) > lines_at_kill, 60, step=0.2,
                 what="episodes after the restart")
    finally:
        rc = stack.stop()  # SIGTERM: the supervisor stops its children (a SIGKILL would orphan them)
    assert rc == 0, stack.output()[-3000:]
    log = stack.output()
    assert "tester-1 exited with code -9; restarting in" in log, log[-3000:]
    rows = eval_lines(episodes)
    assert all(r["epoch"] == tile["epoch"] and r["length"] == 100 for r in rows), rows[:3]

"""/healthz turns 503 after repeated failures; failures are retried, never fatal."""

import re

from tests.sync.helpers import free_port, wait_for


def test_failing_source_is_retried_and_reported_unhealthy(tmp_path, sync_process):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    closed_port = free_port()  # nothing listens there: every pass fails at connect
    sync = sync_process(
        "--source",
        "root@127.0.0.1:/runs/",
        "--dest",
        tmp_path / "dst",
        "--ssh-port",
        closed_port,
        "--known-hosts",
        known_hosts,
        "--unhealthy-after",
        "2",
    )

    code, body = wait_for(lambda: (h := sync.health())[0] == 503 and h, timeout=20, what="/healthz 503")
    assert body["status"] == "failing" and body["consecutive_failures"] >= 2 and body["last_success"] is None
    assert "Connection refused" in body["last_error"]
    assert sync.proc.poll() is None  # still running, still retrying
    metrics = sync.metrics()
    failures = float(re.search(r"^policycast_sync_consecutive_failures (\S+)$", metrics, re.M).group(1))
    assert failures >= 2
    rc, out = sync.stop()
    assert rc == 0
    assert "pass failed (2 in a row)" in out and "retry in 2s" in out

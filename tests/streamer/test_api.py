"""The JSON API and control proxy: contract paths, bad bodies, unknown testers, auth, metrics, ports."""

import os
import socket

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from services.core.cli import command
from services.streamer import PortInUseError, start_in_process
from tests.processes import run, start
from tests.streamer.standin import ControlServer, Pusher, StandInTester, control_session, jpeg_of


@pytest.fixture
def registered(streamer, standin):
    """A stand-in tester registered over the ingest API with its HTTP control URL and one frame."""
    server, hub, url = streamer
    tester, ctl = standin
    pusher = Pusher(url, tester, control_url=ctl.url)
    pusher.push_status()
    pusher.push_frame(jpeg_of(0))
    return url, tester, hub, control_session(server.token)


def test_api_testers_lists_the_contract_fields(registered):
    url, tester, _, api = registered
    [t] = requests.get(f"{url}/api/testers").json()
    for field in ("id", "experiment", "checkpoint", "epoch", "reloads", "reload_interval", "status", "episodes"):
        assert field in t, field
    assert (t["id"], t["experiment"], t["epoch"], t["status"]) == (tester.id, tester.experiment, 9, "running")
    assert t["training"]["epoch"] == 45 and t["training"]["max_epochs"] == 300  # passed on as the tester said
    stats = requests.get(f"{url}/stats").json()
    for field in (
        "frames_received",
        "frames_served",
        "frames_dropped",
        "clients_connected",
        "uptime_seconds",
        "current_fps",
    ):
        assert field in stats, field
    assert stats["frames_received"] == 1
    assert requests.get(f"{url}/healthz").json()["ok"] is True


def test_control_calls_are_proxied_to_the_tester(registered):
    url, tester, _, api = registered
    base = f"{url}/api/testers/{tester.id}"
    assert api.post(f"{base}/reload").json()["reloads"] == 1
    assert tester.reloads == 1
    assert requests.get(f"{url}/api/testers").json()[0]["reloads"] == 1  # shown at once
    assert api.put(f"{base}/reload-interval", json={"seconds": 7}).json()["reload_interval"] == 7
    ck = tester.ckpts[0]["path"]
    assert api.post(f"{base}/pin", json={"checkpoint": ck}).json()["pinned"] == ck
    assert api.delete(f"{base}/pin").json()["pinned"] is None
    assert api.post(f"{base}/pause").json()["state"] == "paused"
    assert api.post(f"{base}/resume").json()["state"] == "running"
    assert [c["epoch"] for c in requests.get(f"{base}/checkpoints").json()] == [3, 6, 9]
    assert [e["epoch"] for e in requests.get(f"{base}/eval").json()] == [3, 6, 9]
    all_ = api.put(f"{url}/api/reload-interval", json={"seconds": 60})
    assert all_.status_code == 200 and all_.json()["testers"][0]["status"]["reload_interval"] == 60
    assert tester.interval == 60


def test_in_process_tester_is_controlled_directly(streamer):
    server, hub, url = streamer
    api = control_session(server.token)
    tester = StandInTester("local-1")
    pub = hub.local_publisher("local-1", tester)
    pub.publish_status(tester.status())
    pub.publish_frame(jpeg_of(1))
    assert api.post(f"{url}/api/testers/local-1/reload").json()["reloads"] == 1
    r = api.post(f"{url}/api/testers/local-1/pin", json={"checkpoint": "/etc/passwd"})
    assert r.status_code == 400 and r.json()["field"] == "checkpoint"  # the tester's ValueError
    assert tester.pinned is None
    with requests.get(f"{url}/stream/local-1", stream=True, timeout=10) as resp:
        assert jpeg_of(1) in next(resp.iter_content(65536))


@pytest.mark.parametrize(
    "method,path,body,field",
    [
        ("put", "/reload-interval", {"seconds": -1}, "seconds"),
        ("put", "/reload-interval", {"seconds": "ten"}, "seconds"),
        ("put", "/reload-interval", {"secs": 10}, "seconds"),
        ("put", "/reload-interval", "not json", "body"),
        ("put", "/reload-interval", {"seconds": 0.000001}, "seconds"),  # floor: 0 or >= 0.5 s
        ("put", "/reload-interval", {"seconds": 10**400}, "body"),  # 401 digits
        ("post", "/pin", {}, "checkpoint"),
        ("post", "/pin", {"checkpoint": ""}, "checkpoint"),
        ("post", "/pin", {"checkpoint": "runs/../../etc/passwd"}, "checkpoint"),  # refused by the tester
    ],
)
def test_bad_bodies_are_400_naming_the_field(registered, method, path, body, field):
    url, tester, _, api = registered
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    r = getattr(api, method)(f"{url}/api/testers/{tester.id}{path}", **kwargs)
    assert r.status_code == 400
    assert r.json()["field"] == field and r.json()["error"]
    assert tester.interval == 30.0 and tester.pinned is None


def test_bad_ingest_is_400(streamer):
    _, hub, url = streamer
    r = requests.post(f"{url}/ingest/t1/frame", data=b"GIF89a...", headers={"Content-Type": "image/jpeg"})
    assert (r.status_code, r.json()["field"]) == (404, "id")  # a status registers a tester first
    r = requests.post(f"{url}/ingest/t1/frame", data=jpeg_of(0), headers={"Content-Type": "text/plain"})
    assert (r.status_code, r.json()["field"]) == (415, "Content-Type")
    r = requests.post(f"{url}/ingest/t1/status", data="[1, 2]", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["field"]) == (400, "body")
    r = requests.post(f"{url}/ingest/t1/status", json={"control_url": "file:///etc"})
    assert (r.status_code, r.json()["field"]) == (400, "control_url")
    r = requests.post(f"{url}/ingest/bad%20id!/status", json={})
    assert (r.status_code, r.json()["field"]) == (400, "id")
    assert hub.channels() == []


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/tester/ghost"),
        ("get", "/stream/ghost"),
        ("get", "/api/testers/ghost"),
        ("get", "/api/testers/ghost/checkpoints"),
        ("get", "/api/testers/ghost/eval"),
        ("post", "/api/testers/ghost/reload"),
        ("put", "/api/testers/ghost/reload-interval"),
        ("post", "/api/testers/ghost/pin"),
        ("delete", "/api/testers/ghost/pin"),
        ("post", "/api/testers/ghost/pause"),
        ("post", "/api/testers/ghost/resume"),
    ],
)
def test_unknown_tester_is_404(registered, method, path):
    url, _, _, api = registered
    r = getattr(api, method)(url + path, json={"seconds": 1, "checkpoint": "x"}, timeout=10)
    assert r.status_code == 404
    assert "ghost" in r.json()["error"]


def test_unreachable_tester_is_502(streamer):
    server, _, url = streamer
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    requests.post(f"{url}/ingest/gone/status", json={"id": "gone", "control_url": dead}).raise_for_status()
    r = control_session(server.token).post(f"{url}/api/testers/gone/reload")
    assert r.status_code == 502 and "unreachable" in r.json()["error"]


def test_bind_all_registers_testers_with_the_token_only():
    token = "s3cret-token"
    server, hub = start_in_process(0, bind_all=True, token=token, announce=False)
    tester = StandInTester("auth-1")
    ctl = ControlServer(tester, token=token)  # the tester checks the token the streamer forwards
    try:
        url = f"http://127.0.0.1:{server.port}"
        api = control_session(token)
        # ingest without the token: refused, nothing registered
        r = requests.post(f"{url}/ingest/auth-1/status", json={"control_url": ctl.url})
        assert r.status_code == 401 and r.json()["field"] == "Authorization"
        assert requests.get(f"{url}/api/testers").json() == []
        Pusher(url, tester, control_url=ctl.url, token=token).push_status()
        Pusher(url, tester, token=token).push_frame(jpeg_of(0))
        # GETs stay open
        for path in (
            "/",
            "/tester/auth-1",
            "/api/testers",
            "/stats",
            "/healthz",
            "/metrics",
            "/api/testers/auth-1/checkpoints",
        ):
            assert requests.get(url + path).status_code == 200, path
        for method, path, body in [
            ("post", "/reload", None),
            ("put", "/reload-interval", {"seconds": 5}),
            ("post", "/pause", None),
            ("delete", "/pin", None),
        ]:
            r = getattr(requests, method)(f"{url}/api/testers/auth-1{path}", json=body)
            assert r.status_code == 401, path
            r = getattr(requests, method)(
                f"{url}/api/testers/auth-1{path}", json=body, headers={"Authorization": "Bearer wrong"}
            )
            assert r.status_code == 401, path
        assert tester.reloads == 0 and not tester.paused and tester.interval == 30.0
        assert api.post(f"{url}/api/testers/auth-1/reload").json()["reloads"] == 1
        assert ctl.auth_seen[-1] == f"Bearer {token}"  # forwarded to the tester
        assert requests.put(f"{url}/api/reload-interval", json={"seconds": 5}).status_code == 401
    finally:
        server.stop()
        ctl.close()


def test_on_loopback_too_control_calls_need_the_token(registered):
    url, tester, _, api = registered
    base = f"{url}/api/testers/{tester.id}"
    r = requests.post(f"{base}/reload", json={})
    assert (r.status_code, r.json()["field"]) == (401, "Authorization")
    assert requests.put(f"{url}/api/reload-interval", json={"seconds": 5}).status_code == 401
    assert tester.reloads == 0 and tester.interval == 30.0
    assert api.post(f"{base}/reload").status_code == 200 and tester.reloads == 1


def test_metrics_are_prometheus_text_per_tester(registered):
    url, tester, _, api = registered
    with requests.get(f"{url}/stream/{tester.id}", stream=True, timeout=10) as resp:
        next(resp.iter_content(1024))
        text = requests.get(f"{url}/metrics").text
    mine = {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.labels.get("tester") == tester.id and s.labels.get("experiment") == tester.experiment
    }
    assert mine["policycast_stream_viewers"] == 1 and mine["policycast_stream_frames_in_total"] == 1
    assert mine["policycast_stream_frames_out_total"] == 1 and mine["policycast_stream_frames_dropped_total"] == 0
    assert mine["policycast_tester_checkpoint_epoch"] == 9  # what the tester's status says


def test_port_in_use_is_one_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port}"):
            start_in_process(port, bind_all=False, token=None, announce=False)
        done = run(command("streamer", "--port", port), timeout=60)
    assert done.returncode == 2
    assert f"port {port}" in done.stderr and "already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_main_serves_and_prints_a_generated_token_with_bind_all():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "POLICYCAST_TOKEN"}
    proc = start(command("streamer", "--port", port, "--bind-all"), env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("policycast dashboard (with its control token): http://")
        token = line.split("?token=", 1)[1].strip()
        url = f"http://127.0.0.1:{port}"
        assert requests.post(f"{url}/ingest/x/status", json={}, timeout=10).status_code == 401
        r = requests.post(f"{url}/ingest/x/status", json={}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "ALL interfaces" in err and token not in err  # warned; the token is printed once, on stdout


def test_only_an_offline_tester_can_be_removed(registered):
    url, tester, hub, api = registered
    r = api.delete(f"{url}/api/testers/{tester.id}")
    assert r.status_code == 409 and requests.get(f"{url}/api/testers/{tester.id}").ok
    hub.channel(tester.id).last_seen -= 60  # as if it went silent a minute ago
    assert api.delete(f"{url}/api/testers/{tester.id}").status_code == 200
    assert requests.get(f"{url}/api/testers").json() == []
    assert api.delete(f"{url}/api/testers/{tester.id}").status_code == 404


def test_a_tester_id_belongs_to_the_process_that_registered_it(streamer, standin):
    server, hub, url = streamer
    tester, ctl = standin
    token = {"Authorization": f"Bearer {server.token}"}
    first = requests.post(f"{url}/ingest/a/status", json={"control_url": ctl.url}, timeout=5).json()
    secret = {"Authorization": f"Bearer {first['secret']}"}
    assert requests.post(f"{url}/ingest/a/status", json={}, timeout=5).status_code == 403  # another process
    assert requests.post(f"{url}/ingest/a/status", json={}, headers=secret, timeout=5).json().get("secret") is None
    jpeg = {"Content-Type": "image/jpeg"}
    assert requests.post(f"{url}/ingest/a/frame", data=jpeg_of(0), headers=jpeg, timeout=5).status_code == 403
    assert requests.post(f"{url}/ingest/a/frame", data=jpeg_of(0), headers={**jpeg, **secret}).status_code == 200
    assert requests.post(f"{url}/ingest/nobody/frame", data=jpeg_of(0), headers=jpeg).status_code == 404
    # control calls carry back what the tester proved: its secret
    control_session(server.token).post(f"{url}/api/testers/a/reload", timeout=5).raise_for_status()
    assert ctl.auth_seen[-1] == secret["Authorization"]

    # a restarted tester takes back an id once its old process has been silent (offline)
    hub.channel("a").last_seen -= 60
    again = requests.post(f"{url}/ingest/a/status", json={"control_url": ctl.url}, timeout=5).json()
    assert again["secret"] != first["secret"]

    # the token makes a tester trusted; its id then needs the token, even offline
    requests.post(f"{url}/ingest/t/status", json={"control_url": ctl.url}, headers=token, timeout=5).raise_for_status()
    control_session(server.token).post(f"{url}/api/testers/t/reload", timeout=5).raise_for_status()
    assert ctl.auth_seen[-1] == token["Authorization"]
    hub.channel("t").last_seen -= 60
    assert requests.post(f"{url}/ingest/t/status", json={}, timeout=5).status_code == 403
    r = requests.post(f"{url}/ingest/t/status", json={"control_url": "http://tester-7:58100"}, headers=token)
    assert r.status_code == 200  # the stack's own network: any http URL for a tester with the token

"""Issue 21's probes, each on real processes (a streamer and a tester as `make up` runs them, the stack's
token in their environment): what a page on another site, a DNS-rebinding page, another user of this
machine or a stray script can and cannot do."""

import socket
import subprocess

import requests

from tests.api import control_session
from tests.security.conftest import TESTER, TOKEN
from tests.streamer.standin import jpeg_of
from tests.waiting import wait_for


def curl(*args) -> tuple[int, str]:
    done = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args], capture_output=True, text=True)
    body, _, code = done.stdout.rpartition("\n")
    return int(code), body


def test_the_issues_two_curl_requests_hand_the_listener_no_token(served, listener):
    """A page (or anyone) registering a tester whose control URL it chose, then asking for an action on it."""
    code, body = curl(
        "-X", "POST", "-H", "Origin: http://evil.example", "-H", "Content-Type: text/plain",
        "-d", f'{{"control_url":"{listener.url}"}}', f"{served.url}/ingest/csrf1/status",
    )  # fmt: skip
    assert code == 403 and "cross-site" in body
    code, body = curl("-X", "POST", "-H", "Origin: http://evil.example", f"{served.url}/api/testers/csrf1/reload")
    assert code == 403
    assert listener.calls == []
    assert TOKEN not in body and requests.get(f"{served.url}/api/testers/csrf1", timeout=5).status_code == 404

    # The same without the browser's marks, as another user of this machine can send it: the tester
    # registers (loopback, no token: it gets a secret of its own), and the dashboard's own calls to it —
    # its reload button, `make reload-interval` — carry that secret, never the streamer's token.
    reply = requests.post(f"{served.url}/ingest/csrf1/status", json={"control_url": listener.url}, timeout=5)
    assert reply.status_code == 200 and reply.json()["secret"] != TOKEN
    api = control_session(TOKEN)
    assert api.post(f"{served.url}/api/testers/csrf1/reload", timeout=10).status_code == 200
    assert api.put(f"{served.url}/api/reload-interval", json={"seconds": 30}, timeout=30).status_code == 200
    assert listener.tokens_seen() == [f"Bearer {reply.json()['secret']}"] * 2
    assert all(TOKEN not in str(c) for c in listener.calls)


def test_a_cross_site_origin_and_a_foreign_host_are_refused_by_both_servers(served):
    before = served.tile()
    for base, path in ((served.url, f"/api/testers/{TESTER}/pause"), (served.control_url, "/pause")):
        api = control_session(TOKEN)  # even with the token
        for headers in (
            {"Origin": "http://evil.example"},
            {"Origin": "http://127.0.0.1:1"},  # a page on another port of this machine
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            r = api.post(base + path, headers=headers, timeout=10)
            assert (r.status_code, r.json()["field"]) == (403, "Origin"), (base, headers)
        for kind in ("text/plain", "application/x-www-form-urlencoded"):  # what a page sends with no preflight
            r = api.post(base + path, data="{}", headers={"Content-Type": kind}, timeout=10)
            assert (r.status_code, r.json()["field"]) == (415, "Content-Type"), (base, kind)
        # DNS rebinding: the page's own name in Host, on every path, reads included
        for method, p in (("get", "/healthz" if base == served.control_url else "/api/testers"), ("post", path)):
            r = getattr(api, method)(base + p, headers={"Host": "attacker.example"}, timeout=10)
            assert (r.status_code, r.json()["field"]) == (403, "Host"), (base, p)
        # and without the token, from this machine's own origin: 401
        r = requests.post(base + path, json={}, timeout=10)
        assert (r.status_code, r.json()["field"]) == (401, "Authorization")
    after = served.tile()
    assert not after["paused"] and after["reloads"] == before["reloads"]


def test_a_forged_status_or_frame_for_a_running_tester_is_refused(served, listener):
    forged = {**served.tile(), "state": "HIJACKED", "control_url": listener.url}
    r = requests.post(f"{served.url}/ingest/{TESTER}/status", json=forged, timeout=5)
    assert r.status_code == 403 and TESTER in r.json()["error"] and "\n" not in r.json()["error"]
    r = requests.post(
        f"{served.url}/ingest/{TESTER}/frame", data=jpeg_of(7), headers={"Content-Type": "image/jpeg"}, timeout=5
    )
    assert r.status_code == 403
    r = requests.post(  # a guessed secret does no better
        f"{served.url}/ingest/{TESTER}/status", json=forged, headers={"Authorization": "Bearer guess"}, timeout=5
    )
    assert r.status_code == 403
    assert served.tile()["status"] != "HIJACKED"
    assert requests.get(f"{served.url}/snapshot/{TESTER}", timeout=5).content != jpeg_of(7)
    # the tile still steers the real tester, and nothing reached the listener
    api = control_session(TOKEN)
    assert api.post(f"{served.url}/api/testers/{TESTER}/pause", timeout=10).json()["paused"] is True
    assert api.post(f"{served.url}/api/testers/{TESTER}/resume", timeout=10).json()["paused"] is False
    assert listener.calls == []


def test_javascript_urls_are_refused_where_they_enter(served):
    for url in ("javascript:alert(document.domain)", "data:text/html,<script>alert(1)</script>", "//evil", 3):
        r = requests.post(f"{served.url}/ingest/js-1/status", json={"view3d_url": url}, timeout=5)
        assert (r.status_code, r.json()["field"]) == (400, "view3d_url"), url
    r = requests.post(f"{served.url}/ingest/js-1/status", json={"control_url": "http://tester.internal:1"}, timeout=5)
    assert (r.status_code, r.json()["field"]) == (400, "control_url")  # no token: loopback only
    assert "js-1" not in requests.get(f"{served.url}/api/testers", timeout=5).text


def test_a_tester_starting_on_a_hostile_newest_file_plays_the_newest_that_loads(served):
    tile = served.tile()
    assert tile["checkpoint"].endswith(served.good[-1].name)
    assert served.hostile.name in tile["last_reload_error"] and served.good[-1].name in tile["last_reload_error"]
    # and pinning the refused file is refused, with the reason, naming paths as the status does
    rel = f"{served.experiment.name}/nn/{served.hostile.name}"
    r = control_session(TOKEN).post(f"{served.url}/api/testers/{TESTER}/pin", json={"checkpoint": rel}, timeout=10)
    assert (r.status_code, r.json()["field"]) == (400, "checkpoint")
    assert served.hostile.name in r.json()["error"] and str(served.experiment.parent) not in r.json()["error"]
    assert served.tile()["pinned"] is None


def test_odd_and_large_bodies_answer_json_and_cost_nothing(served):
    api = control_session(TOKEN)
    for base, prefix in ((served.control_url, ""), (served.url, f"/api/testers/{TESTER}")):
        cases = [
            ("post", "/pin", {"checkpoint": "x" * 300}, 400),
            ("post", "/pin", {"checkpoint": "../" * 50 + "etc/passwd"}, 400),
            ("put", "/reload-interval", {"seconds": 10**400}, 400),
            ("put", "/reload-interval", {"seconds": 0.000001}, 400),
            ("put", "/reload-interval", "[" * 1000 + "]" * 1000, 400),
            ("put", "/reload-interval", "[" * 100_000 + "]" * 100_000, 413),
            ("get", "/clips/" + "c" * 5000 + ".mp4", None, 404),
            ("get", "/nowhere", None, 404),
            ("patch", "/pin", None, 405),
        ]
        for method, path, body, code in cases:
            kwargs = {"data": body} if isinstance(body, str) else {"json": body}
            r = api.request(method, base + prefix + path, timeout=30, **kwargs)
            assert r.status_code == code and r.headers["Content-Type"] == "application/json", (base, path, r.text)
            assert r.json()["error"] and str(served.logs) not in r.json()["error"], (base, path)
    assert served.tile()["reload_interval"] == 30 and served.tile()["pinned"] is None


def test_a_17_mb_body_is_refused_before_it_is_read(served):
    """The size is known from the head: 413 comes back with nothing of the body sent, and the socket closes."""
    for base, path in ((served.control_url, "/pin"), (served.url, f"/api/testers/{TESTER}/pin")):
        host, port = base.split("//")[1].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: 17000000\r\n\r\n{{".encode()
            )
            answer = b""
            while chunk := s.recv(65536):  # the server closes the connection after its answer
                answer += chunk
        head = answer.decode()
        assert head.startswith("HTTP/1.1 413 ") and "application/json" in head and "body larger than" in head, head
        # sent chunked, with no size up front: cut at the limit
        r = control_session(TOKEN).post(base + path, data=(b" " * 8192 for _ in range(3)), timeout=10)
        assert (r.status_code, r.json()["field"]) == (413, "body")


def test_every_tile_and_the_tester_live_on(served):
    """After every probe above: the real tester still plays and pushes, online, on its own control URL."""
    frames = requests.get(f"{served.url}/stats", timeout=5).json()["testers"][TESTER]["frames_received"]
    with requests.get(f"{served.url}/stream/{TESTER}", stream=True, timeout=10) as viewer:
        next(viewer.iter_content(1024))
        wait_for(
            lambda: (
                requests.get(f"{served.url}/stats", timeout=5).json()["testers"][TESTER]["frames_received"] > frames + 5
            ),
            30,
            what="frames keep coming",
        )
    assert served.tile()["online"]

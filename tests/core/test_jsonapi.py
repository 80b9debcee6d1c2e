"""services/core/jsonapi.py: the JSON errors and the guard the tester and the streamer share (Flask's own
test client: the guard's answers to what a browser, a web page or curl would send)."""

import pytest
from flask import Flask, abort

from services.core.hosts import HostRule, hostname_of, is_loopback
from services.core.jsonapi import TOKEN_ERROR, ApiError, Guard, accepts, json_api, json_body, parse_json

JSON = {"Authorization": "Bearer s3cret", "Content-Type": "application/json"}


def client(token="s3cret", bind="127.0.0.1", also=None):
    app = json_api(Flask("t"), Guard(HostRule(bind), token, also))

    @app.route("/thing", methods=["GET", "POST"])
    def thing():
        return {"ok": True, "body": json_body()}

    @app.post("/photo")
    @accepts("image/jpeg", 8)
    def photo():
        return {"ok": True}

    @app.get("/refused")
    def refused():
        raise ApiError(409, "busy", "thing")

    @app.get("/gone")
    def gone():
        abort(404, description="no such thing")

    @app.get("/crash")
    def crash():
        raise RuntimeError("a bug")

    return app.test_client()


def test_errors_are_json_naming_the_field():
    c = client()
    assert (c.get("/refused").status_code, c.get("/refused").json) == (409, {"error": "busy", "field": "thing"})
    assert (c.get("/gone").status_code, c.get("/gone").json) == (404, {"error": "no such thing"})
    assert c.get("/nowhere").status_code == 404 and c.get("/nowhere").json["error"]
    r = c.delete("/thing", headers=JSON)
    assert (r.status_code, r.json) == (405, {"error": "DELETE is not allowed on /thing"})
    assert "POST" in r.headers["Allow"]
    r = c.post("/photo", data=b"too long for it", headers={**JSON, "Content-Type": "image/jpeg"})
    assert (r.status_code, r.json) == (413, {"error": "body larger than 8 bytes", "field": "body"})
    r = c.get("/crash")
    assert r.status_code == 500 and "RuntimeError" in r.json["error"] and "a bug" not in r.json["error"]


def test_every_state_changing_call_needs_the_token_and_json():
    c = client()
    assert c.get("/thing").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        r = c.post("/thing", json={}, headers=headers)
        assert (r.status_code, r.json) == (401, {"error": TOKEN_ERROR, "field": "Authorization"})
        assert r.headers["WWW-Authenticate"] == "Bearer"
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):  # no preflight
        r = c.post("/thing", data="{}", headers={**JSON, "Content-Type": kind})
        assert (r.status_code, r.json["field"]) == (415, "Content-Type")
    r = c.post("/thing", json={"a": [1, 2.5]}, headers=JSON)
    assert (r.status_code, r.json["body"]) == (200, {"a": [1, 2.5]})
    assert c.post("/thing", headers=JSON).json["body"] is None  # no body at all is fine
    # another credential beside the token (a tester: its streamer's secret), read at each call
    c = client(also=lambda: "other")
    assert c.post("/thing", json={}, headers={**JSON, "Authorization": "Bearer other"}).status_code == 200


def test_cross_site_and_rebinding_requests_are_refused():
    c = client()
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:9999"},  # another port of this machine is another origin
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        r = c.post("/thing", json={}, headers={**JSON, **headers})
        assert (r.status_code, r.json["field"]) == (403, "Origin"), headers
    ok = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}  # the dashboard itself
    assert c.post("/thing", json={}, headers={**JSON, **ok}).status_code == 200
    for host in ("attacker.example", "attacker.example:58080", "127.0.0.1.nip.io", ""):
        r = c.get("/thing", headers={"Host": host})
        assert (r.status_code, r.json["field"]) == (403, "Host"), host
        assert "POLICYCAST_ALLOWED_HOSTS" in r.json["error"]
    for host in ("127.0.0.1:58080", "localhost:1234", "[::1]:58080", "127.0.0.5"):
        assert c.get("/thing", headers={"Host": host}).status_code == 200, host


def test_hosts_by_bind_address_and_configuration(monkeypatch):
    assert hostname_of("[::1]:80") == "::1" and hostname_of("Example.ORG.:80") == "example.org"
    assert is_loopback("127.0.0.2") and is_loopback("localhost") and not is_loopback("10.0.0.1")
    loop = HostRule("127.0.0.1")
    assert not loop.allows("10.1.2.3") and not loop.allows("gpubox")
    every = HostRule("0.0.0.0")
    assert every.allows("10.1.2.3:58080") and every.allows("[fe80::1]") and not every.allows("evil.example")
    monkeypatch.setenv("POLICYCAST_ALLOWED_HOSTS", "streamer, Dash.Lab.Example")
    named = HostRule("127.0.0.1")
    assert named.allows("streamer:58080") and named.allows("dash.lab.example") and not named.allows("streamers")


@pytest.mark.parametrize(
    "raw,what",
    [
        (b"[" * 5000 + b"]" * 5000, "nested deeper"),
        (b'{"a":' * 17 + b"1" + b"}" * 17, "nested deeper"),
        (b'{"seconds": ' + b"9" * 401 + b"}", "401 digits"),
        (b'{"seconds": 1e999}', "too large"),
        (b'{"seconds": NaN}', "NaN"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_json_bodies_are_bounded(raw, what):
    with pytest.raises(ApiError) as e:
        parse_json(raw)
    assert e.value.http_status == 400 and what in e.value.error and e.value.field == "body"


def test_sane_json_passes():
    parsed = parse_json(b'{"a": {"b": [1, -2, 3.5e3, "x", null, true]}}')
    assert parsed == {"a": {"b": [1, -2, 3500.0, "x", None, True]}}

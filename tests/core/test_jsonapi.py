"""services/core/jsonapi.py: the JSON errors and the bearer-token guard the tester and the streamer share."""

from flask import Flask, abort, request

from services.core.jsonapi import TOKEN_ERROR, ApiError, json_api


def client(token=None):
    app = json_api(Flask("t"), token)
    app.config["MAX_CONTENT_LENGTH"] = 4

    @app.route("/thing", methods=["GET", "POST"])
    def thing():
        request.get_data()
        return {"ok": True}

    @app.get("/refused")
    def refused():
        raise ApiError(409, "busy", "thing")

    @app.get("/gone")
    def gone():
        abort(404, description="no such thing")

    return app.test_client()


def test_errors_are_json_naming_the_field():
    c = client()
    assert (c.get("/refused").status_code, c.get("/refused").json) == (409, {"error": "busy", "field": "thing"})
    assert (c.get("/gone").status_code, c.get("/gone").json) == (404, {"error": "no such thing"})
    assert c.get("/nowhere").status_code == 404 and c.get("/nowhere").json["error"]
    assert (c.delete("/thing").status_code, c.delete("/thing").json) == (
        405,
        {"error": "DELETE is not allowed on /thing"},
    )
    r = c.post("/thing", data=b"too long")
    assert (r.status_code, r.json) == (413, {"error": "body larger than 4 bytes", "field": "body"})


def test_a_token_guards_all_but_gets():
    c = client("s3cret")
    assert c.get("/thing").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = c.post("/thing", headers=headers)
        assert (r.status_code, r.json) == (401, {"error": TOKEN_ERROR, "field": "Authorization"})
        assert r.headers["WWW-Authenticate"] == "Bearer"
    assert c.post("/thing", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client().post("/thing").status_code == 200  # no token: open

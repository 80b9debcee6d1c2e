"""The control contract (services/core/control_contract.py) against everything that spells it: the tester's
routes, the streamer's proxy routes, RemoteControl, Channel.summary, the Tester class and docs/design.md."""

import inspect
import re
from pathlib import Path

from services.core.control_contract import NOT_SHOWN, OPERATIONS, STATUS_FIELDS
from services.streamer import Hub
from services.streamer import create_app as streamer_app
from services.streamer.control import RemoteControl
from services.tester import control as tester_control

ROOT = Path(__file__).resolve().parents[2]
QUIET = {"HEAD", "OPTIONS"}


class Recorder:
    """Every contract method: records the call, answers as the contract says."""

    def __init__(self):
        self.calls = []
        for op in OPERATIONS.values():
            setattr(self, op.name, self._method(op))

    def _method(self, op):
        def call(*args):
            self.calls.append((op.name, *args))
            return {"reloads": 0, "called": op.name} if op.answers == "status" else [{"name": op.name}]

        return call


def routes(app) -> set[tuple[str, str]]:
    return {(m, r.rule) for r in app.url_map.iter_rules() for m in r.methods - QUIET if r.endpoint != "static"}


def test_the_tester_serves_every_operation_and_nothing_else():
    assert routes(tester_control.create_app(Recorder(), "t")) - {("GET", "/healthz")} == {
        (op.method, op.path) for op in OPERATIONS.values()
    }


def test_the_streamer_proxies_every_operation_under_the_tester():
    base = "/api/testers/<tester_id>"
    served = {(m, rule[len(base) :]) for m, rule in routes(streamer_app(Hub(), "t")) if rule.startswith(base + "/")}
    assert served == {(op.method, op.path) for op in OPERATIONS.values() if op.proxied}


def test_the_tester_object_has_every_method():
    from services.tester.tester import Tester

    for op in OPERATIONS.values():
        assert callable(getattr(Tester, op.name, None)), op.name
        params = list(inspect.signature(getattr(Tester, op.name)).parameters)[1:]
        assert params == ([op.body] if op.body else ["name"] if "<name>" in op.path else []), op.name


def test_remote_control_has_a_method_per_json_operation():
    public = {n for n, _ in inspect.getmembers(RemoteControl, inspect.isfunction) if not n.startswith("_")}
    assert public == {op.name for op in OPERATIONS.values() if op.answers != "file"}


def test_remote_control_reaches_the_testers_routes():
    """RemoteControl against the tester's own control app: each call lands on the method of its name."""
    tester = Recorder()
    server = tester_control.ControlServer(tester, "127.0.0.1", 0, "s3cret")
    try:
        remote = RemoteControl(server.url, token="s3cret")
        for op in OPERATIONS.values():
            if op.answers == "file":
                continue
            args = [f"value of {op.body}"] if op.body else []
            answer = getattr(remote, op.name)(*args)
            assert tester.calls[-1] == (op.name, *args)
            assert answer == ({"reloads": 0, "called": op.name} if op.answers == "status" else [{"name": op.name}])
    finally:
        server.stop()


def test_channel_summary_shows_the_status_fields():
    hub = Hub()
    ch = hub.channel("t1", create=True)
    status = {f: f"{f} value" for f in STATUS_FIELDS if f != "id"}
    ch.put_status(status)
    summary = ch.summary()
    assert summary["id"] == "t1"
    for f, value in status.items():
        if f not in NOT_SHOWN:
            assert summary[f] == value, f


def _design_section(title: str) -> str:
    text = (ROOT / "docs/design.md").read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_design_md_lists_every_operation_and_status_field():
    section = _design_section("Tester control API")
    for op in OPERATIONS.values():
        assert f"`{op.method} {op.path}" in section, op
        assert f"{op.name}(" in section, op.name
    documented = re.search(r"Status fields: `([^`]*)`", section).group(1)
    assert [f.strip() for f in documented.split(",")] == list(STATUS_FIELDS)

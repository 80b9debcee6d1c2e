"""Control calls from the dashboard, passed on to the tester: a route per operation of the control
contract (services/core/control_contract.py) at `/api/testers/<id><path>`, and one to set every tester's
reload interval at once. The clip operations are clips.py's (a video streams through, it is not JSON).
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from services.core.config import MIN_LIVE_INTERVAL
from services.core.config import reload_interval as check_interval
from services.core.control_contract import OPERATIONS, Operation
from services.core.jsonapi import json_body

from .context import channel_or_404, streamer
from .control import ControlError, invoke

bp = Blueprint("control", __name__)
SERVED_BY_CLIPS = ("clips", "clip_file")


def _json_object() -> dict:
    body = json_body()
    return body if isinstance(body, dict) else {}


def _seconds() -> float:
    value = _json_object().get("seconds")
    try:
        check_interval(value)
    except ValueError:
        raise ControlError(
            400,
            f'body must be JSON {{"seconds": N}} with N = 0 (keep the current checkpoint) or >= {MIN_LIVE_INTERVAL}',
            "seconds",
        ) from None
    return value


def _checkpoint() -> str:
    checkpoint = _json_object().get("checkpoint")
    if not isinstance(checkpoint, str) or not checkpoint.strip():
        raise ControlError(400, 'body must be JSON {"checkpoint": "<path>"} with a non-empty path', "checkpoint")
    return checkpoint


# Each body is checked here first: a bad one never reaches the tester.
BODIES = {"seconds": _seconds, "checkpoint": _checkpoint}


def _remember(ch, result):
    # Control calls answer the tester's new status: show it at once (e.g. the reload count).
    if isinstance(result, dict) and "reloads" in result:
        with ch.cond:
            ch.status = {**ch.status, **result}
    return result


def _proxied(op: Operation):
    def view(tester_id):
        ch = channel_or_404(tester_id)
        args = [BODIES[op.body]()] if op.body else []
        return jsonify(_remember(ch, invoke(ch.control, op.name, *args, field=op.body)))

    return view


for _op in OPERATIONS.values():
    if _op.proxied and _op.name not in SERVED_BY_CLIPS:
        bp.add_url_rule(f"/api/testers/<tester_id>{_op.path}", _op.name, _proxied(_op), methods=[_op.method])


@bp.put("/api/reload-interval")
def reload_interval_all():
    """Every online tester; offline tiles (a tester gone, e.g. after scaling down) are named, not
    called: only an online tester refusing or failing makes this a 502."""
    seconds = _seconds()
    results, failed, offline = [], False, []
    for ch in streamer().hub.channels():
        if not ch.online():
            offline.append(ch.id)
            continue
        try:
            results.append(
                {
                    "id": ch.id,
                    "status": _remember(ch, invoke(ch.control, "set_reload_interval", seconds, field="seconds")),
                }
            )
        except ControlError as e:
            failed = True
            results.append({"id": ch.id, **e.body()})
    return jsonify({"seconds": seconds, "testers": results, "offline": offline}), (502 if failed else 200)

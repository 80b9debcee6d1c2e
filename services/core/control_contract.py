"""The tester control contract, written once: its operations and the status fields a tester reports.

The tester's control routes and the streamer's `RemoteControl` are built from OPERATIONS, the streamer
proxies each at `/api/testers/<id><path>`, and `Channel.summary` shows STATUS_FIELDS;
tests/core/test_control_contract.py fails when any of them, or docs/design.md, drifts from this table.
In-process (`config=test_stream`) the streamer calls the tester object's methods of the same names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    name: str  # the tester object's method; RemoteControl's too (but for `file` answers)
    method: str  # HTTP method on the tester's control API
    path: str  # path on the tester's control API; the streamer's is /api/testers/<id> + path
    body: str | None = None  # the JSON body's one key, the method's one argument (and the 400's `field`)
    answers: str = "status"  # "status": the new status; "list": a JSON list; "file": a video, not JSON
    proxied: bool = True  # the streamer serves it under /api/testers/<id> (status: /api/testers/<id>)


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("status", "GET", "/status", proxied=False),
        Operation("reload_now", "POST", "/reload"),
        Operation("set_reload_interval", "PUT", "/reload-interval", body="seconds"),
        Operation("pin", "POST", "/pin", body="checkpoint"),
        Operation("unpin", "DELETE", "/pin"),
        Operation("pause", "POST", "/pause"),
        Operation("resume", "POST", "/resume"),
        Operation("checkpoints", "GET", "/checkpoints", answers="list"),
        Operation("eval_history", "GET", "/eval", answers="list"),
        Operation("clips", "GET", "/clips", answers="list"),
        Operation("clip_file", "GET", "/clips/<name>", answers="file"),
    )
}

# What a tester's status() holds (docs/design.md, "Status fields").
STATUS_FIELDS = (
    "id",
    "task",
    "experiment",
    "checkpoint",
    "epoch",
    "checkpoint_env_steps",
    "reloads",
    "reloads_refused",
    "reloads_skipped",
    "reload_latency",
    "last_reload_time",
    "last_reload_error",
    "reload_interval",
    "next_reload_in",
    "paused",
    "pinned",
    "episodes",
    "successes",
    "mean_return",
    "success_rate",
    "reward_terms",
    "last_eval",
    "fps",
    "frames_rendered",
    "training",
    "last_checkpoint_time",
    "state",
    "control_url",
    "readers",
    "rendering",
    "view3d_url",
    "view3d_port",
    "view3d_viewers",
    "view3d_error",
    "clips_error",
)
# Status fields the streamer does not pass on to the dashboard: where to reach the tester, and the
# tester's own reader count (the streamer shows the count it knows, its viewers included).
NOT_SHOWN = ("control_url", "readers", "view3d_port")

"""Control calls from the dashboard to a tester: in-process method calls or HTTP to its control URL.

Both kinds of `control` expose the same methods, the operations of the control contract
(services/core/control_contract.py); `invoke` turns every failure into a ControlError carrying the HTTP
status the streamer should answer.
"""

from __future__ import annotations

import requests

from services.core.auth import bearer
from services.core.control_contract import OPERATIONS
from services.core.jsonapi import ApiError


class ControlError(ApiError):
    """A control call that failed, or a request the streamer refuses: answered as JSON with its status."""


class RemoteControl:
    """A tester reached over HTTP (the stack). Short timeouts: a hung tester must not hang the page.

    `token` is what the tester proved when it registered (identity.py): the streamer's token, or its secret.

    A method per JSON operation of the contract; a clip's video (`clip_file`) is streamed through by
    clips.py instead.
    """

    def __init__(self, url: str, token: str | None = None, timeout=(1.0, 5.0)):
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout

    def status(self):
        return self._operation("status")

    def reload_now(self):
        return self._operation("reload_now")

    def set_reload_interval(self, seconds):
        return self._operation("set_reload_interval", seconds)

    def pin(self, checkpoint):
        return self._operation("pin", checkpoint)

    def unpin(self):
        return self._operation("unpin")

    def pause(self):
        return self._operation("pause")

    def resume(self):
        return self._operation("resume")

    def checkpoints(self):
        return self._operation("checkpoints")

    def eval_history(self):
        return self._operation("eval_history")

    def clips(self):
        return self._operation("clips")

    def _operation(self, name: str, *args):
        op = OPERATIONS[name]
        return self._call(op.method, op.path, {op.body: args[0]} if op.body else None)

    def _call(self, method: str, path: str, body: dict | None = None):
        headers = bearer(self.token)
        # every state-changing call is JSON (the tester refuses others: cross-site requests cannot be)
        json = body if body is not None or method == "GET" else {}
        try:
            r = requests.request(method, self.url + path, json=json, headers=headers, timeout=self.timeout)
        except requests.RequestException as e:
            raise ControlError(502, f"tester unreachable at {self.url}: {type(e).__name__}") from None
        try:
            data = r.json()
        except ValueError:
            raise ControlError(502, f"tester at {self.url} answered {r.status_code} without JSON") from None
        if r.status_code >= 400:
            error = data.get("error", f"tester answered {r.status_code}") if isinstance(data, dict) else str(data)
            field = data.get("field") if isinstance(data, dict) else None
            if r.status_code == 401:  # the browser's token was fine: the tester refused ours
                raise ControlError(502, f"the tester at {self.url} refused the streamer's credential: {error}")
            # 400/403/404/409 mean something to the caller; anything else is the tester's failure
            raise ControlError(r.status_code if r.status_code in (400, 403, 404, 409) else 502, error, field)
        return data


def invoke(control, method: str, *args, field: str | None = None):
    """Call `control.<method>(*args)`; a ValueError from the tester is the caller's fault (400, `field`)."""
    if control is None:
        raise ControlError(503, "this tester registered no control URL")
    try:
        return getattr(control, method)(*args)
    except ControlError:
        raise
    except ValueError as e:
        raise ControlError(400, str(e), field) from None
    except Exception as e:  # an in-process tester's bug must not take the dashboard down
        raise ControlError(500, f"{method} failed in the tester: {type(e).__name__}: {e}") from None

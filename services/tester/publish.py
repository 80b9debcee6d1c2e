"""Push status and frames to a streamer service over its ingest API, never blocking the stepping loop.

`publish_frame` / `publish_status` only drop the newest item into a one-slot mailbox; a background
thread posts it with one requests.Session. A slow or absent streamer costs dropped frames, never a
stall. Errors are logged once (and once more when the streamer is back), and retried on the next item.
The streamer's JSON answer (`{"readers": N, ...}`) goes to `on_reply`, on the publisher's thread.
A tester without the streamer's token is given a secret by its first answer: every later push carries it
(`secret`; the control API accepts it too, from the streamer's control calls).
"""

from __future__ import annotations

import logging
import threading

import requests

from services.core.auth import bearer

log = logging.getLogger("tester.publish")


class HttpPublisher:
    """Same two methods as the streamer's in-process publisher: publish_status(dict), publish_frame(bytes)."""

    def __init__(self, streamer_url: str, tester_id: str, token: str | None = None, timeout: float = 2.0):
        self.base = f"{streamer_url.rstrip('/')}/ingest/{tester_id}"
        self.session = requests.Session()
        self.session.headers.update(bearer(token))
        self.timeout = timeout
        self.cond = threading.Condition()
        self.frame: bytes | None = None
        self.status: dict | None = None
        self.failing = False
        self.secret: str | None = None  # given by the streamer when we registered without its token
        self.sent_frames = 0
        self.stopping = False
        self.on_reply = None  # callable(dict): the streamer's answer to each post (the tester's readers)
        self.thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self.thread.start()

    def publish_frame(self, jpeg: bytes) -> None:
        with self.cond:
            self.frame = jpeg  # an unsent older frame is replaced: viewers want the newest
            self.cond.notify()

    def publish_status(self, status: dict) -> None:
        with self.cond:
            self.status = status
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()
        self.thread.join(timeout=self.timeout + 1)
        self.session.close()

    def _run(self) -> None:
        while True:
            with self.cond:
                while self.frame is None and self.status is None and not self.stopping:
                    self.cond.wait()
                if self.stopping:
                    return
                status, self.status = self.status, None
                frame, self.frame = self.frame, None
            # Status first: it registers the tester (and its control URL) with the streamer.
            if status is not None:
                self._post("status", json=status)
            if frame is not None and self._post("frame", data=frame, headers={"Content-Type": "image/jpeg"}):
                self.sent_frames += 1

    def _post(self, what: str, **kwargs) -> bool:
        try:
            r = self.session.post(f"{self.base}/{what}", timeout=self.timeout, **kwargs)
            r.raise_for_status()
        except requests.RequestException as e:
            if not self.failing:
                refused = _refusal(e)  # e.g. our tester id held by another process
                if refused:
                    log.warning("streamer at %s refused our push (%s); retrying quietly", self.base, refused)
                else:
                    log.warning("streamer unreachable at %s (%s); retrying quietly", self.base, type(e).__name__)
            self.failing = True
            return False
        if self.failing:
            log.info("streamer reachable again at %s", self.base)
        self.failing = False
        try:
            reply = r.json()
        except ValueError:
            reply = None  # an older streamer answering something else: nothing to learn
        if isinstance(reply, dict) and isinstance(reply.get("secret"), str):
            self.secret = reply["secret"]
            self.session.headers.update(bearer(self.secret))
        if self.on_reply is not None and isinstance(reply, dict):
            self.on_reply(reply)
        return True


def _refusal(e: requests.RequestException) -> str | None:
    """The streamer's one-line JSON error, when it answered one (e.g. a tester id held by another)."""
    try:
        return f"{e.response.status_code}: {e.response.json()['error']}" if e.response is not None else None
    except (ValueError, KeyError, TypeError):
        return None

"""Who may push as a tester, and what the streamer sends back to its control URL.

A tester id belongs to the process that registered it. A tester that proves the streamer's token (the
stack's testers: `POLICYCAST_TOKEN`) is trusted: it may register or move its id, with any http(s)
control URL (the stack's own network). A tester without the token may register an id nobody holds — on
a loopback streamer only — and gets a secret in the answer; every later status or frame for that id
must carry it (`Authorization: Bearer <secret>`), and its control URL must be http on a loopback address.
An id whose tester has been offline for OFFLINE_AFTER_S may be registered afresh (a restarted tester).

Control calls carry back what the tester proved: the token to a trusted tester, its own secret to
another. The streamer's token goes to no control URL a stranger chose.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from urllib.parse import urlsplit

from services.core.hosts import is_loopback
from services.core.jsonapi import TOKEN_ERROR, ApiError

from .hub import Channel, Hub

_LOCK = threading.Lock()  # two first registrations of one id at once: one of them gets the id


def admit(hub: Hub, tester_id: str, presented: str | None, token: str, anonymous_ok: bool, register: bool):
    """The channel `tester_id` may push to, and the secret to hand over (new registrations without the
    token); ApiError (one line) otherwise. `register`: a status (it may register); frames may not."""
    with _LOCK:
        return _admit(hub, tester_id, presented, token, anonymous_ok, register)


def _admit(hub: Hub, tester_id: str, presented: str | None, token: str, anonymous_ok: bool, register: bool):
    with_token = bool(presented) and hmac.compare_digest(presented.encode(), token.encode())
    ch = hub.channel(tester_id)
    fresh = ch is None or (not ch.online() and not ch.trusted and _remote(ch)) or (not ch.online() and with_token)
    if fresh:
        if not register and not with_token:
            raise ApiError(404, f"unknown tester {tester_id!r}: its status registers it before any frame", "id")
        if not with_token and not anonymous_ok:
            raise ApiError(401, TOKEN_ERROR, "Authorization")
        try:
            ch = hub.channel(tester_id, create=True)
        except ValueError as e:
            raise ApiError(400, str(e), "id") from None
        with ch.cond:
            ch.secret, ch.trusted = secrets.token_urlsafe(18), with_token
        return ch, None if with_token else ch.secret
    if with_token:
        ch.trusted = True
        return ch, None
    if presented and hmac.compare_digest(presented.encode(), ch.secret.encode()):
        return ch, None
    raise ApiError(
        403,
        f"tester id {tester_id!r} is held by a running tester: pushes for it need its secret or the token",
        "Authorization",
    )


def _remote(ch: Channel) -> bool:
    from .control import RemoteControl

    return ch.control is None or isinstance(ch.control, RemoteControl)


def check_control_url(url, trusted: bool) -> str | None:
    """A tester's control URL as it may be used: http on loopback, or any http(s) for a trusted tester."""
    if url is None:
        return None
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(400, "control_url must be an http URL", "control_url")
    if not trusted and (parts.scheme != "http" or not is_loopback(parts.hostname)):
        raise ApiError(
            400,
            f"control_url {url[:200]!r}: a tester without the token may only name http on a loopback address",
            "control_url",
        )
    return url.rstrip("/")


def check_link(status: dict, field: str) -> None:
    """A URL the dashboard turns into a link: http(s) only (no `javascript:`), checked where it enters."""
    url = status.get(field)
    if url is None:
        return
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
        raise ApiError(400, f"{field} must be an http(s) URL", field)


def credential(ch: Channel, token: str) -> str:
    """What control calls to this tester carry: what it proved."""
    return token if ch.trusted else ch.secret

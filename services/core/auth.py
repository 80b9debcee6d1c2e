"""The bearer token every control call carries once a service listens beyond loopback."""

from __future__ import annotations

import hmac


def bearer(token: str | None) -> dict[str, str]:
    """Request headers that carry `token` (none without one)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def authorized(authorization: str | None, token: str) -> bool:
    """Does an `Authorization` header value carry `token`? (constant-time compare)"""
    return hmac.compare_digest((authorization or "").encode(), f"Bearer {token}".encode())

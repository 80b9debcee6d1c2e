"""What a caller of the control APIs sends (the dashboard, `make reload-interval`): the token, as JSON."""

import requests


def control_session(token) -> requests.Session:
    """A session whose calls carry `Authorization: Bearer <token>` and `Content-Type: application/json`."""
    s = requests.Session()
    s.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return s

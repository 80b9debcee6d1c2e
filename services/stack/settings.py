"""`.policycast.env`: what the stack remembers between runs (KEY=value lines, also compose's --env-file)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from services.core.config import choices, reload_interval

ENV_FILE = Path(os.environ.get("POLICYCAST_ENV_FILE", ".policycast.env"))
DEFAULTS = {"RELOAD_INTERVAL": "30", "TASK": "Reach"}


def load(path: Path = ENV_FILE) -> dict[str, str]:
    values = dict(DEFAULTS)
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


def save(updates: dict[str, str], path: Path = ENV_FILE) -> dict[str, str]:
    """Merge updates in and write the file atomically (0600: it holds the control token)."""
    values = load(path)
    values.update({k: str(v) for k, v in updates.items() if v is not None})
    values.setdefault("POLICYCAST_TOKEN", "")
    if not values["POLICYCAST_TOKEN"]:
        values["POLICYCAST_TOKEN"] = secrets.token_urlsafe(18)
    text = "# policycast stack settings (make up / make reload-interval=N write this; keep it private)\n"
    write_private(path, text + "".join(f"{k}={v}\n" for k, v in sorted(values.items())))
    return values


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it may hold the token or a key), atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def parse_interval(text: str) -> str:
    """A reload interval from the command line: 0 or a number >= 0.5, else one line naming the key."""
    try:
        value = reload_interval(float(text))
    except ValueError:
        raise SystemExit(
            f"error: reload-interval={text!r}: expects 0 (keep the first checkpoint) or a number of seconds >= 0.5"
        ) from None
    return f"{value:g}"


def task_of(experiment: str, default: str | None = None) -> str:
    """The task a tester of `experiment` simulates: the one its policy learnt, from the name
    (<Task>_train_<stamp>); for `latest` or a part of a name, `default`, else the task `make up` was given."""
    head = Path(experiment.rstrip("/")).name.split("_", 1)[0]
    return head if head in choices("task") else (default or load()["TASK"])

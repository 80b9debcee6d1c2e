"""Optional features around the tester's job (the 3D view, clips, TensorBoard videos).

The tester's job is to test, hot-reload and stream. A feature around it that cannot start (an
incompatible MuJoCo viewer, `import av` failing, a recorder that raises) costs that feature only: one
warning line names the feature, the cause and the installed version of the package behind it, the
tester runs on without it, and its status carries the reason for the dashboard to show. A setting the
user chose that cannot be honoured (a busy `test.view3d.port`) still stops the tester with one line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

from services.core.config import ConfigError
from services.core.http import PortInUseError

log = logging.getLogger("tester")


def installed(package: str) -> str:
    """`<package> <version>` as installed, for error lines."""
    try:
        return f"{package} {metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return f"{package} not installed"


@dataclass(frozen=True)
class Feature:
    """An optional feature as `start` left it: the running object (None when off or failed) and, when it
    was asked for and failed, why (the status's `view3d_error`, `clips_error`)."""

    running: object | None = None
    error: str | None = None


OFF = Feature()  # not asked for


def start(feature: str, make: Callable, package: str) -> Feature:
    """make()'s object, or none and the reason when `make` fails for any reason but the user's own setting."""
    try:
        return Feature(make())
    except (ConfigError, PortInUseError):
        raise
    except Exception as e:  # noqa: BLE001 - whatever breaks inside an extra, the tester goes on
        reason = f"{type(e).__name__}: {e} ({installed(package)})"
        log.warning("%s unavailable: %s; the tester tests, hot-reloads and streams without it", feature, reason)
        return Feature(None, reason)

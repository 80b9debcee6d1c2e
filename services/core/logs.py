"""One log format for every service: time, component, message — readable in `make logs`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def setup_logging(level: str = "INFO", log_file=None) -> None:
    """Log to stderr (and to `log_file` when given); quiet the chatty libraries."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=level, format=FORMAT, datefmt="%H:%M:%S", handlers=handlers, force=True)
    for noisy in ("watchdog", "urllib3", "cheroot", "werkzeug", "matplotlib", "PIL", "OpenGL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def add_log_file(log_file) -> None:
    """Also write to an experiment's log file, once its directory exists."""
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
    logging.getLogger().addHandler(handler)

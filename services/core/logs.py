"""One log format for every service: time, component, message — readable in `make logs`. Log files
and append-only JSON lines rotate by size, so a run that goes on for days keeps a bounded tail."""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
LOG_MAX_BYTES = 16 * 1024**2  # train.log / test.log: this, then .1 and .2 (48 MB at most)
LOG_BACKUPS = 2


def setup_logging(level: str = "INFO", log_file=None) -> None:
    """Log to stderr (and to `log_file` when given); quiet the chatty libraries."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(_rotating(log_file))
    logging.basicConfig(level=level, format=FORMAT, datefmt="%H:%M:%S", handlers=handlers, force=True)
    for noisy in ("watchdog", "urllib3", "cheroot", "werkzeug", "matplotlib", "PIL", "OpenGL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def add_log_file(log_file) -> None:
    """Also write to an experiment's log file, once its directory exists."""
    handler = _rotating(log_file)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
    logging.getLogger().addHandler(handler)


def _rotating(log_file) -> RotatingFileHandler:
    return RotatingFileHandler(log_file, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS)


def append_bounded(path, text: str, max_bytes: int | None = None) -> None:
    """Append `text` (whole lines) to `path`; past `max_bytes` the file first becomes `<stem>.1<suffix>`
    (replacing the previous one), so at most twice `max_bytes` stay and a reader of `path` always finds
    whole lines."""
    path, max_bytes = Path(path), max_bytes or LOG_MAX_BYTES
    try:
        if path.stat().st_size + len(text) > max_bytes:
            os.replace(path, path.with_name(f"{path.stem}.1{path.suffix}"))
    except FileNotFoundError:
        pass
    with open(path, "a") as f:
        f.write(text)

"""Logs and append-only records of a run that goes on for days stay bounded, in whole lines."""

import json
import logging

from services.core import logs
from services.tester.evalrec import EvalRecorder


def test_episodes_jsonl_rotates_and_keeps_whole_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "LOG_MAX_BYTES", 4096)
    rec = EvalRecorder(tmp_path)
    for i in range(500):  # ~40 KB of episodes
        rec.record({"return": float(i), "length": 100, "success": i % 2 == 0}, "nn/x.pth", epoch=i)
    rec.close()
    now, before = tmp_path / "episodes.jsonl", tmp_path / "episodes.1.jsonl"
    assert sorted(p.name for p in tmp_path.glob("episodes*")) == [before.name, now.name]  # one old file, no more
    assert now.stat().st_size <= 4096 and before.stat().st_size <= 4096
    rows = [json.loads(line) for f in (before, now) for line in f.read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(500 - len(rows), 500))  # the newest, in order, none torn
    assert rec.history()[-1]["epoch"] == 499  # the tester's own figures are not cut


def test_experiment_logs_rotate(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "LOG_MAX_BYTES", 2048)
    log_file = tmp_path / "train.log"
    logs.add_log_file(log_file)
    handler = logging.getLogger().handlers[-1]
    try:
        for i in range(300):
            logging.getLogger("trainer").warning("epoch %d | a progress line of some length", i)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["train.log", "train.log.1", "train.log.2"]
    assert all((tmp_path / f).stat().st_size <= 2048 for f in files)
    assert "epoch 299 |" in log_file.read_text()

#!/usr/bin/env python
"""Disk soak: a real trainer saving a checkpoint every epoch for --minutes, sync mirroring it, a tester
following the mirror. Do the runs folder and the mirror stay within their budget? Does the tester ever
fail a load because of retention? Do the checkpoints kept still span the whole run?

    .venv/bin/python bench/soak_disk.py --minutes 30 [--budget-mb 64 --recent-minutes 2 --history 100]

Processes, as the stack runs them: `python -m services.trainer task=Reach numEnvs=16 maxIterations=null
train.saveFrequency=1 train.keep.*`, `python -m services.sync --source runs/ --dest mirror/` (file
events, --interval 2) and `python -m services.tester checkpoint=latest runsDir=mirror reloadInterval=10`
(2 worlds, clips on). Printed every minute: epoch, checkpoints and bytes in runs/ and the mirror, what
sync removed, the tester's reloads. Checked every 2 s: no checkpoint of the source older than 10 s is
missing from the mirror. At the end (SIGTERM to the trainer, one last sync pass): the mirror holds
exactly the source's checkpoints, the epochs kept per tenth of the run, the tester's clip timeline, and
every "refused:" line of the tester's log (a load that failed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from services.core.checkpoints import epoch_of, list_checkpoints  # noqa: E402
from services.core.cli import command  # noqa: E402
from services.core.disk import size_text, tree_bytes  # noqa: E402
from services.core.experiments import read_progress  # noqa: E402
from tests.processes import run  # noqa: E402
from tests.waiting import free_port, wait_for  # noqa: E402

MB = 1024**2


def nn_files(runs: Path) -> dict[str, int]:
    """{checkpoint name: size} of the experiment latest_train points at in `runs`."""
    link = runs / "latest_train"
    if not link.is_symlink():
        return {}
    out = {}
    for p in list_checkpoints(link.resolve()):
        try:
            out[p.name] = p.stat().st_size
        except OSError:
            continue
    return out


def get(url: str):
    try:
        return requests.get(url, timeout=5).json()
    except (requests.RequestException, ValueError):
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--budget-mb", type=float, default=64.0, help="train.keep.budgetGB, in MB")
    ap.add_argument("--recent-minutes", type=float, default=2.0, help="train.keep.recentMinutes")
    ap.add_argument("--history", type=int, default=100, help="train.keep.history")
    ap.add_argument("--num-envs", type=int, default=16)
    ap.add_argument("--keep-dir", help="keep the runs here instead of a temporary folder")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    tmp_obj = None if args.keep_dir else tempfile.TemporaryDirectory(prefix="soak_disk_")
    tmp = Path(args.keep_dir or tmp_obj.name)
    tmp.mkdir(parents=True, exist_ok=True)
    runs, mirror = tmp / "runs", tmp / "mirror"
    runs.mkdir(exist_ok=True)
    sync_port, control_port = free_port(), free_port()
    logs = {name: open(tmp / f"{name}.log", "w") for name in ("trainer", "sync", "tester")}
    budget = int(args.budget_mb * MB)

    def start(name, argv):
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=logs[name], stderr=subprocess.STDOUT)

    trainer = start(
        "trainer",
        command(
            "trainer",
            "task=Reach",
            f"numEnvs={args.num_envs}",
            "maxIterations=null",
            "train.saveFrequency=1",
            f"train.keep.budgetGB={args.budget_mb / 1024:g}",
            f"train.keep.recentMinutes={args.recent_minutes:g}",
            f"train.keep.history={args.history}",
            "train.printInterval=50",
            f"runsDir={runs}",
        ),
    )
    sync = start(
        "sync",
        command("sync", "--source", f"{runs}/", "--dest", f"{mirror}/", "--interval", "2", "--metrics-port", sync_port),
    )
    tester = start(
        "tester",
        command(
            "tester",
            "checkpoint=latest",
            f"runsDir={mirror}",
            "reloadInterval=10",
            "numEnvs=2",
            "test.render.width=320",
            "test.render.height=240",
            f"test.control.port={control_port}",
            "test.id=soak",
        ),
    )
    procs = {"trainer": trainer, "sync": sync, "tester": tester}
    control = f"http://127.0.0.1:{control_port}"
    peak = {"runs": 0, "mirror": 0, "runs_nn": 0, "mirror_nn": 0}
    missing_in_mirror, samples = 0, 0
    t0 = time.monotonic()
    try:
        wait_for(lambda: (s := get(f"{control}/status")) and s.get("epoch") is not None, 300, 1, "the tester playing")
        print(
            f"soak_disk: Reach, {args.num_envs} envs, a checkpoint every epoch; train.keep: budget "
            f"{args.budget_mb:g} MB, recent window {args.recent_minutes:g} min, history {args.history}, newest 5; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        end = time.monotonic() + args.minutes * 60
        next_line = time.monotonic()
        seen_at: dict[str, float] = {}  # when each source checkpoint was first seen
        while time.monotonic() < end:
            for name, p in procs.items():
                if p.poll() is not None:
                    sys.exit(f"error: {name} exited ({p.returncode}); see {tmp / (name + '.log')}")
            now = time.monotonic()
            src, dst = nn_files(runs), nn_files(mirror)
            for name in src:
                seen_at.setdefault(name, now)
            late = [n for n in src if n not in dst and now - seen_at[n] > 10]
            missing_in_mirror += bool(late)
            samples += 1
            peak["runs_nn"] = max(peak["runs_nn"], sum(src.values()))
            peak["mirror_nn"] = max(peak["mirror_nn"], sum(dst.values()))
            if now >= next_line:
                peak["runs"] = max(peak["runs"], tree_bytes(runs))
                peak["mirror"] = max(peak["mirror"], tree_bytes(mirror))
                progress = read_progress(runs / "latest_train") or {}
                health = get(f"http://127.0.0.1:{sync_port}/healthz") or {}
                status = get(f"{control}/status") or {}
                kept = progress.get("checkpoints") or {}
                print(
                    f"{(now - t0) / 60:5.1f} min  epoch {progress.get('epoch')}  runs/ {len(src)} checkpoints "
                    f"{size_text(sum(src.values()))} (removed {kept.get('removed')})  mirror {len(dst)} "
                    f"{size_text(sum(dst.values()))} (sync removed {health.get('files_removed')})  tester epoch "
                    f"{status.get('epoch')} reloads {status.get('reloads')} error {status.get('last_reload_error')}",
                    flush=True,
                )
                next_line += 60
            time.sleep(2.0)
        clips = get(f"{control}/clips") or []
        trainer.send_signal(signal.SIGTERM)
        trainer.wait(120)
        time.sleep(5)  # sync's file events take the final checkpoint; then one more pass, to be sure
        final = run(
            command("sync", "--source", f"{runs}/", "--dest", f"{mirror}/", "--once", "--metrics-port", 0),
            env=env,
            timeout=300,
        )
        status = get(f"{control}/status") or {}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        for f in logs.values():
            f.close()
    minutes = (time.monotonic() - t0) / 60
    exp = (runs / "latest_train").resolve()
    progress = read_progress(exp) or {}
    src, dst = nn_files(runs), nn_files(mirror)
    epochs = sorted(e for e in (epoch_of(n) for n in src) if e is not None)
    last = progress.get("epoch") or (epochs[-1] if epochs else 0)
    tenths = [sum(1 for e in epochs if i * last / 10 < e <= (i + 1) * last / 10) for i in range(10)]
    removed = sum(1 for _ in open(exp / "removed.jsonl")) if (exp / "removed.jsonl").exists() else 0
    refused = [line for line in (tmp / "tester.log").read_text().splitlines() if "refused:" in line]
    reloads = len(re.findall(r"reload \S+ -> ", (tmp / "tester.log").read_text()))
    clip_epochs = sorted(c.get("epoch") for c in clips if c.get("epoch") is not None)
    print(
        f"\nsoak_disk: {minutes:.1f} min, {last} epochs, {len(epochs) + removed} periodic checkpoints saved, "
        f"{removed} removed by retention (recorded); load average now {os.getloadavg()[0]:.1f}"
    )
    print(
        f"runs/: {len(src)} checkpoints, {size_text(sum(src.values()))} at the end; largest seen "
        f"{size_text(peak['runs_nn'])} of checkpoints (budget {size_text(budget)}), whole folder at most "
        f"{size_text(peak['runs'])}"
    )
    print(
        f"mirror: {len(dst)} checkpoints, {size_text(sum(dst.values()))} at the end; largest seen "
        f"{size_text(peak['mirror_nn'])} of checkpoints, whole folder at most {size_text(peak['mirror'])}; "
        f"same files as the source after the last pass: {set(src) == set(dst)} (final pass rc {final.returncode}); "
        f"samples with a source checkpoint > 10 s old missing from the mirror: {missing_in_mirror} of {samples}"
    )
    print(f"epochs kept per tenth of the run: {tenths} (first {epochs[:3]}, newest {epochs[-3:]})")
    print(
        f"tester: {reloads} reloads, {len(refused)} refused loads, playing epoch {status.get('epoch')}; "
        f"clip timeline: {len(clip_epochs)} clips, epochs {clip_epochs[:3]} ... {clip_epochs[-3:]}"
    )
    for line in refused[:5]:
        print("  " + line)
    print(json.dumps({"progress_disk": progress.get("disk"), "checkpoints": progress.get("checkpoints")}))
    if tmp_obj is not None:
        tmp_obj.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

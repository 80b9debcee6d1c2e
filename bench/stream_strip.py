#!/usr/bin/env python
"""What the user sees: a running stack's tiles, one frame every --every seconds, and the strip they make.

    .venv/bin/python bench/stream_strip.py [--url http://127.0.0.1:58080] [--minutes 5] [--every 30]
        [--tester ID ...] [--out DIR] [--columns 6] [--panel-width 400]
    .venv/bin/python bench/stream_strip.py --compose-only DIR     # the strip and table again from DIR

Watches a dashboard (a `make up` stack, any runtime) for --minutes. At 0:00, then every --every seconds,
for each online tester (or each --tester): its current frame, saved as OUT/<tester id>/<mm-ss>.jpg ('-',
not ':', in file names), and the testers' status (GET /api/testers) appended to OUT/status.jsonl, one line
per capture. At the end OUT/strip.jpg: per tester, the frames in time order (rows of --columns), each
captioned with its time, the checkpoint epoch and the success rate the tile showed then; and a table, one
line per frame: time, tester, checkpoint epoch, success, episodes on that checkpoint, the trainer's epoch
and env-steps.

Fresh frames: a tester renders only while someone reads its frames (docs/design.md, "Frame readers"),
and a snapshot fetch makes this script a reader for 3 s only (services/streamer/readers.py). Fetched
every 30 s, `/snapshot/<id>` would show the last frame of the previous capture. So each capture polls
the snapshot (as a dashboard tile does, with a `reader=` of its own) until the tile has received a frame
after the capture began and the frame shows the checkpoint the tile names (its JPEG comment says which;
a reload in between would caption a frame with another epoch), and saves that one (FRESH_S at most; a
frame not fresh by then is saved and marked `"fresh": false` in status.jsonl and the table). Only GETs:
no control token is needed.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from services.tester.frames import frame_comment  # noqa: E402

STATUS_FILE = "status.jsonl"
STRIP_FILE = "strip.jpg"
PANELS_FILE = "strip.json"  # where each frame sits in the strip
FRESH_S = 5.0  # per capture: how long to wait for a frame made after it began (a waking tester: < 1 s)
POLL_S = 0.25  # the snapshot poll while waiting (the dashboard's tiles poll at 2 Hz)
HTTP_TIMEOUT_S = 10


class DashboardError(Exception):
    """The dashboard cannot be read; str() is the one line to print."""


class Dashboard:
    """The streamer's read-only API: health, the tiles, a tester's current frame."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.reader = f"strip-{secrets.token_hex(4)}"  # counted as one reader, as one dashboard page is

    def _get(self, path: str, **params) -> requests.Response:
        try:
            r = self.http.get(self.url + path, params=params, timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as e:
            raise DashboardError(f"no dashboard answers on {self.url} ({type(e).__name__})") from None
        if not r.ok:
            raise DashboardError(f"{self.url}{path} answered {r.status_code}: {r.text[:200]}")
        return r

    def check(self) -> dict:
        return self._get("/healthz").json()

    def tiles(self) -> dict[str, dict]:
        return {t["id"]: t for t in self._get("/api/testers").json()}

    def snapshot(self, tester_id: str) -> bytes:
        return self._get(f"/snapshot/{tester_id}", reader=self.reader).content


# --- watching -------------------------------------------------------------------------------------
def label(seconds: float) -> str:
    """A capture's time since watching began, as m:ss (one caption, one table column)."""
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def frame_name(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m:02d}-{s:02d}.jpg"


def wanted(tiles: dict, only: list[str] | None) -> list[str]:
    return [i for i, t in tiles.items() if t["online"] and (not only or i in only)]


def shows(jpeg: bytes, tile: dict) -> bool:
    """Whether the frame shows the checkpoint the tile names (its JPEG comment says which: frames.py), so
    a caption taken from the status never names another checkpoint than its frame (a reload in between)."""
    said = frame_comment(jpeg) or {}
    if said.get("state") != "running":  # waiting for a first checkpoint, or the streamer's placeholder
        return tile.get("epoch") is None
    return said.get("epoch") == str(tile.get("epoch"))


def fresh_frames(dash: Dashboard, ids: list[str], before: dict) -> tuple[dict, dict, dict]:
    """({id: jpeg}, {id: fresh?}, the tiles at the end): each tester's frame once its tile has received one
    beyond `before` (its frames_received when the capture began) and it shows the checkpoint the tile
    names, polled FRESH_S at most."""
    jpegs, fresh, deadline = {}, dict.fromkeys(ids, False), time.monotonic() + FRESH_S
    taken = {}  # each fresh tester's tile as it was when its frame was taken
    for tester_id in ids:
        jpegs[tester_id] = dash.snapshot(tester_id)  # the first fetch makes us a reader: the tester wakes
    while True:
        time.sleep(POLL_S)
        tiles = dash.tiles()
        for tester_id in [i for i in ids if not fresh[i]]:
            # after the tile counted a new frame, the snapshot is that frame or a newer one
            jpegs[tester_id] = dash.snapshot(tester_id)
            tile = tiles.get(tester_id, {})
            fresh[tester_id] = tile.get("frames_received", 0) > before[tester_id] and shows(jpegs[tester_id], tile)
            if fresh[tester_id]:
                taken[tester_id] = tile
        if all(fresh.values()) or time.monotonic() > deadline:
            return jpegs, fresh, {**tiles, **taken}


def capture(dash: Dashboard, out: Path, at: float, started: float, only: list[str] | None) -> dict | None:
    """One capture: every wanted tester's fresh frame saved, and the record appended to status.jsonl."""
    tiles = dash.tiles()
    ids = wanted(tiles, only)
    if not ids:
        return None
    jpegs, fresh, tiles = fresh_frames(dash, ids, {i: tiles[i]["frames_received"] for i in ids})
    frames = {}
    for tester_id, jpeg in jpegs.items():
        path = out / tester_id / frame_name(at)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg)
        frames[tester_id] = str(path.relative_to(out))
    record = {
        "at_s": at,  # the capture's place in the schedule (0, every, 2*every, ...)
        "t_s": round(time.monotonic() - started, 2),  # when it was done
        "time": datetime.now().isoformat(timespec="seconds"),
        "frames": frames,
        "fresh": fresh,
        "testers": list(tiles.values()),
    }
    with open(out / STATUS_FILE, "a") as f:
        f.write(json.dumps(record) + "\n")
    return record


def wait_for_tester(dash: Dashboard, only: list[str] | None, timeout_s: float) -> None:
    """Until a wanted tester is online (a stack just started registers its testers within seconds)."""
    deadline = time.monotonic() + timeout_s
    while not wanted(dash.tiles(), only):
        if time.monotonic() > deadline:
            which = f"tester {', '.join(only)}" if only else "tester"
            raise DashboardError(f"no {which} online on {dash.url} after {timeout_s:g} s (see `make logs`)")
        time.sleep(1)


def watch(dash: Dashboard, out: Path, minutes: float, every: float, only: list[str] | None) -> None:
    """Capture at 0, every, 2*every, ... up to `minutes`; a line of progress each."""
    count = math.floor(minutes * 60 / every + 1e-9) + 1
    started = time.monotonic()
    for k in range(count):
        at = k * every
        time.sleep(max(0.0, started + at - time.monotonic()))
        try:
            record = capture(dash, out, at, started, only)
        except DashboardError as e:  # a streamer restarting: this capture is lost, the next may work
            print(f"[{label(at)}] capture {k + 1}/{count} skipped: {e}", flush=True)
            continue
        if record is None:
            print(f"[{label(at)}] capture {k + 1}/{count} skipped: no tester online", flush=True)
            continue
        for row in rows_of(record):
            print(f"[{label(at)}] {k + 1}/{count} {describe(row)}", flush=True)


# --- reading the records back ---------------------------------------------------------------------
def rows_of(record: dict) -> list[dict]:
    """One row per frame of a capture: what the tile said when the frame was taken."""
    tiles = {t["id"]: t for t in record["testers"]}
    rows = []
    for tester_id, frame in record["frames"].items():
        t = tiles.get(tester_id, {})
        epoch = t.get("epoch")
        last = t.get("last_eval") or {}
        training = t.get("training") or {}
        rows.append(
            {
                "at_s": record["at_s"],
                "at": label(record["at_s"]),
                "tester": tester_id,
                "frame": frame,
                "fresh": record["fresh"].get(tester_id),
                "task": t.get("task"),
                "experiment": t.get("experiment"),
                "epoch": epoch,
                "state": t.get("state"),
                "success_rate": t.get("success_rate"),
                # the playing checkpoint's own episodes (the tile's success is over these)
                "episodes": last.get("episodes") if epoch is not None and last.get("epoch") == epoch else None,
                "train_epoch": training.get("epoch"),
                "env_steps": training.get("env_steps"),
            }
        )
    return rows


def read_records(out: Path) -> list[dict]:
    path = out / STATUS_FILE
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a torn last line (the script was killed while writing)
            continue
    return records


def percent(rate) -> str:
    return "-" if rate is None else f"{100 * rate:.0f} %"


def steps(n) -> str:
    return "-" if n is None else f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def describe(row: dict) -> str:
    if row["epoch"] is None:
        what = f"{row['tester']}: waiting for the first checkpoint"
    else:
        n = "" if row["episodes"] is None else f" of {row['episodes']} episodes"
        what = f"{row['tester']}: epoch {row['epoch']}, success {percent(row['success_rate'])}{n}"
    trainer = "" if row["train_epoch"] is None else f"; trainer at epoch {row['train_epoch']}"
    trainer += "" if row["env_steps"] is None else f", {steps(row['env_steps'])} env-steps"
    return f"{what}{trainer}{'' if row['fresh'] else ' (frame not fresh)'}"


def table(rows: list[dict]) -> str:
    head = ("time", "tester", "epoch", "success", "episodes", "trainer epoch", "env-steps", "fresh")
    lines = [head] + [
        (
            r["at"],
            r["tester"],
            "-" if r["epoch"] is None else str(r["epoch"]),
            percent(r["success_rate"]),
            "-" if r["episodes"] is None else str(r["episodes"]),
            "-" if r["train_epoch"] is None else str(r["train_epoch"]),
            steps(r["env_steps"]),
            "yes" if r["fresh"] else "no",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


# --- the strip ------------------------------------------------------------------------------------
def caption(row: dict) -> list[str]:
    if row["epoch"] is None:
        return [row["at"], "no checkpoint yet"]
    if row["success_rate"] is None:
        return [f"{row['at']}   epoch {row['epoch']}", "success: no episode ended yet"]
    n = "" if row["episodes"] is None else f" ({row['episodes']} ep)"
    return [f"{row['at']}   epoch {row['epoch']}", f"success {percent(row['success_rate'])}{n}"]


def write(maker, img, lines: list[str], panel_width: int, size: float = 1.0) -> None:
    """`lines` on a band `img` in the lettering a panel `panel_width` wide gets, whatever the band's width
    (annotate sizes its letters by the width it is given)."""
    maker.annotate(img, lines, size=1.3 * size * max(0.4, panel_width / 1280) / max(0.4, img.shape[1] / 1280))


def compose(out: Path, rows: list[dict], columns: int, panel_width: int) -> Path:
    """OUT/strip.jpg: a title line, then per tester its frames in time order, `columns` to a row, each
    with its caption underneath (the stream's own overlay lettering: FrameMaker.annotate). Beside it
    OUT/strip.json: each panel's frame, time, caption figures and place in the image (`box`: x, y, w, h
    of the frame, the caption below it)."""
    import cv2
    import numpy as np

    from services.tester.frames import FrameMaker

    maker = FrameMaker("")
    by_tester: dict[str, list[tuple[dict, np.ndarray]]] = {}
    for r in sorted(rows, key=lambda r: r["at_s"]):
        img = cv2.imread(str(out / r["frame"]))
        if img is None:
            continue  # a frame file lost or torn: its panel is left out, the others stay
        img = cv2.resize(img, (panel_width, round(img.shape[0] * panel_width / img.shape[1])), cv2.INTER_AREA)
        band = np.full((round(panel_width * 0.16), panel_width, 3), 24, np.uint8)
        write(maker, band, caption(r), panel_width)
        by_tester.setdefault(r["tester"], []).append((r, np.vstack([img, band])))
    if not by_tester:
        raise SystemExit(f"error: no frame in {out} to compose a strip from")
    gap = 4
    ph = max(p.shape[0] for ps in by_tester.values() for _, p in ps)
    most = max(len(ps) for ps in by_tester.values())
    columns = math.ceil(most / math.ceil(most / columns))  # rows as even as they can be: 11 -> 6 + 5
    width = columns * panel_width + (columns + 1) * gap
    times = sorted({r["at_s"] for r in rows})
    every = f"every {times[1] - times[0]:g} s, " if len(times) > 1 else ""
    title = np.full((round(panel_width * 0.12), width, 3), 16, np.uint8)
    write(maker, title, [f"{rows[-1]['task'] or ''}   {every}{label(times[0])} to {label(times[-1])}"], panel_width)
    blocks, y, placed = [title], title.shape[0], []
    for tester_id, ps in by_tester.items():
        head = np.full((round(panel_width * 0.09), width, 3), 16, np.uint8)
        write(maker, head, [f"{tester_id}   {ps[-1][0]['experiment'] or ''}"], panel_width, 0.85)
        blocks.append(head)
        y += head.shape[0]
        for i in range(0, len(ps), columns):
            line = np.full((ph + gap, width, 3), 16, np.uint8)
            for j, (r, p) in enumerate(ps[i : i + columns]):
                x = gap + j * (panel_width + gap)
                line[: p.shape[0], x : x + panel_width] = p
                frame_h = p.shape[0] - round(panel_width * 0.16)
                placed.append({**r, "box": [x, y, panel_width, frame_h]})
            blocks.append(line)
            y += line.shape[0]
    path = out / STRIP_FILE
    cv2.imwrite(str(path), np.vstack(blocks), [cv2.IMWRITE_JPEG_QUALITY, 88])
    (out / PANELS_FILE).write_text(json.dumps({"image": STRIP_FILE, "panels": placed}, indent=1) + "\n")
    return path


def finish(out: Path, columns: int, panel_width: int) -> int:
    rows = [r for rec in read_records(out) for r in rows_of(rec)]
    if not rows:
        print(f"error: {out / STATUS_FILE}: no capture recorded", file=sys.stderr)
        return 1
    print(table(rows))
    path = compose(out, rows, columns, panel_width)
    stale = sum(not r["fresh"] for r in rows)
    print(f"strip: {path} ({len(rows)} frames{f'; {stale} not fresh' if stale else ''})", flush=True)
    return 0


def _interrupt(*_):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:58080", help="the dashboard (default %(default)s)")
    ap.add_argument("--minutes", type=float, default=5.0, help="how long to watch (default 5)")
    ap.add_argument("--every", type=float, default=30.0, help="seconds between captures (default 30)")
    ap.add_argument("--tester", action="append", help="only this tester (repeat); default: every online one")
    ap.add_argument("--out", type=Path, default=None, help="default: bench-out/stream_strip_<time>")
    ap.add_argument("--wait", type=float, default=120.0, help="seconds to wait for a tester online (default 120)")
    ap.add_argument("--columns", type=int, default=6, help="frames per row of the strip (default 6)")
    ap.add_argument("--panel-width", type=int, default=400, help="each frame's width in the strip (default 400)")
    ap.add_argument("--compose-only", type=Path, metavar="DIR", help="no watching: the strip and table of DIR")
    a = ap.parse_args(argv)
    for name in ("minutes", "columns", "panel_width"):
        if getattr(a, name) <= 0:
            ap.error(f"--{name.replace('_', '-')}: expects a number > 0")
    if a.every < 1:  # frames are named by the second, and a capture takes up to FRESH_S
        ap.error(f"--every {a.every:g}: expects seconds >= 1")
    if a.compose_only:
        return finish(a.compose_only, a.columns, a.panel_width)
    out = a.out or ROOT / "bench-out" / f"stream_strip_{datetime.now():%Y%m%d_%H%M%S}"
    dash = Dashboard(a.url)
    # SIGTERM (timeout, a job's limit) ends the watching like Ctrl+C: the strip of what was captured
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        dash.check()
        wait_for_tester(dash, a.tester, a.wait)
        out.mkdir(parents=True, exist_ok=True)
        print(
            f"watching {dash.url} for {a.minutes:g} min, a frame every {a.every:g} s "
            f"(testers: {', '.join(a.tester or wanted(dash.tiles(), None))}); out: {out}",
            flush=True,
        )
        watch(dash, out, a.minutes, a.every, a.tester)
    except DashboardError as e:
        print(f"error: {e}", file=sys.stderr)
        if not read_records(out):
            return 1
    except KeyboardInterrupt:
        print("stopped early: the strip of what was captured", flush=True)
    return finish(out, a.columns, a.panel_width)


if __name__ == "__main__":
    sys.exit(main())

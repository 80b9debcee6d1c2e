"""Clips on the real tester loop: the real encoder (PyAV), real checkpoints, real files on disk."""

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from services.core.cli import command
from services.streamer.hub import Hub
from services.tester import build
from services.tester.clip_folder import thin
from services.tester.video import VideoFile
from tests.processes import run
from tests.tester.helpers import config_for, copy_run, play_then_close_env, wait_for

ROOT = Path(__file__).resolve().parents[2]
EPISODE = 100  # Reach: 100 control steps


def decoded(path) -> list[np.ndarray]:
    """Every frame of a video file, decoded by FFmpeg (what a player would show)."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def complete_clips(folder: Path) -> list[dict]:
    """The sidecars of a clip folder, checked against their videos: a visible video is always whole."""
    videos = sorted(p for p in folder.iterdir() if p.suffix in (".mp4", ".webm") and not p.name.startswith("."))
    metas = []
    for video in videos:
        meta = json.loads(video.with_suffix(".json").read_text())
        assert meta["name"] == video.name
        assert len(decoded(video)) == meta["frames"] > 1, video
        metas.append(meta)
    return sorted(metas, key=lambda m: (m["epoch"], m.get("episode") or 0))


def test_thinning_keeps_the_first_and_the_newest_and_spreads_the_rest():
    kept = []
    for epoch in range(3, 301, 3):  # one clip per checkpoint, 100 checkpoints, keep 8
        kept.append(epoch)
        for gone in thin(kept, 8):
            kept.remove(gone)
    assert len(kept) == 8 and kept[0] == 3 and kept[-1] == 300
    gaps = np.diff(kept)
    ideal = (300 - 3) / 7
    assert gaps.max() <= 2 * ideal and gaps.min() >= ideal / 3, kept
    assert thin([5, 9], 1) == [5]


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_a_video_appears_whole_under_its_name_or_not_at_all(tmp_path, fmt):
    rgb = np.zeros((121, 161, 3), np.uint8)  # odd sides: cropped to even for yuv420p
    video = VideoFile(tmp_path / f"epoch_3.{fmt}", 161, 121, 25, fmt)
    for i in range(40):
        rgb[:, :] = (i * 6, 255 - i * 6, 90)
        video.add(rgb)
        # while it is written, only a hidden temp (once the encoder has output its first packets)
        assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in tmp_path.iterdir())
    assert len(list(tmp_path.iterdir())) == 1
    path = video.finish()
    assert [p.name for p in tmp_path.iterdir()] == [f"epoch_3.{fmt}"]
    frames = decoded(path)
    assert len(frames) == 40 and frames[0].shape == (120, 160, 3)
    assert abs(int(frames[39][60, 80, 0]) - 39 * 6) < 12  # the last frame is the last one given

    aborted = VideoFile(tmp_path / f"epoch_6.{fmt}", 160, 120, 25, fmt)
    aborted.add(rgb)
    aborted.abort()
    assert [p.name for p in tmp_path.iterdir()] == [f"epoch_3.{fmt}"]


def test_a_swap_during_the_recording_ends_it_without_a_file_and_the_next_checkpoint_gets_its_clip(
    runs_dir, reach_checkpoints, new_run
):
    """The first checkpoint's episode is being recorded when a pin swaps in another: no clip of the first;
    the pinned one gets the first episode that it plays from start to end, with that episode's figures."""
    first, second = reach_checkpoints[-1], reach_checkpoints[0]
    exp = new_run(first, second)
    os.utime(exp / "nn" / first.name)  # the newest: what `latest` plays first
    cfg = config_for(
        runs_dir,
        "checkpoint=latest",
        "numEnvs=1",
        "reloadInterval=0",
        "test.id=swapclip",
        "test.render.width=160",
        "test.render.height=120",
        "test.realtime=true",
    )
    service = build(cfg, Hub())
    tester, stop = service.tester, threading.Event()
    rec = tester.clip_recorder
    loop = threading.Thread(target=play_then_close_env, args=(tester, stop), daemon=True)
    loop.start()
    try:
        # 60 of its 100 steps in (the encoder has written its first packets to the temp by then)
        video = wait_for(
            lambda: rec.video is not None and rec.t >= 60 and rec.video,
            60,
            what="the first checkpoint's clip under way",
        )
        temp = video.tmp
        assert temp.exists() and rec.loaded.path.name == first.name
        # no viewer, yet the tester renders: the recording is its reader (render on demand)
        assert tester.readers.local() == {"clip": 1} and tester.status()["rendering"]
        tester.pin(str(exp / "nn" / second.name))
        wait_for(lambda: tester.current.path.name == second.name, 20, what="the pinned checkpoint acting")
        assert not temp.exists()
        wait_for(lambda: tester.clips(), 60, what="the pinned checkpoint's clip")
        wait_for(lambda: tester.readers.local() == {}, 10, what="the finished clip giving its reader back")
    finally:
        stop.set()
        loop.join(timeout=20)
        service.close()
    clips = complete_clips(rec.folder.dir)
    assert [c["checkpoint"] for c in clips] == [second.name] == [c["checkpoint"] for c in tester.clips()]
    clip = clips[0]
    assert rec.folder.dir == exp / "eval" / "swapclip" / "clips" and clip["name"] == f"epoch_{clip['epoch']}.mp4"
    assert clip["length"] == EPISODE and clip["frames"] == EPISODE // 2 and clip["fps"] == 25.0
    assert set(clip["reward_terms"]) == {"distance", "closeBonus", "actionRate"}
    # the clip's figures are those of the pinned checkpoint's first whole episode, as eval recorded it
    episodes = [json.loads(line) for line in (exp / "eval" / "swapclip" / "episodes.jsonl").read_text().splitlines()]
    whole = next(e for e in episodes if e["checkpoint"] == second.name and not e.get("spans_reload"))
    assert (clip["return"], clip["success"]) == (pytest.approx(whole["return"], abs=1e-5), whole["success"])
    assert [p.name for p in rec.folder.dir.iterdir() if p.name.startswith(".")] == []


def test_test_record_saves_every_episode_bounded_with_tensorboard_videos(tmp_path, reach_run):
    """`config=test_record`: every episode of world 0 as an MP4 under the test experiment's videos/, at most
    `keep` (thinned evenly, first and newest kept), each playable, each also a TensorBoard video."""
    runs = tmp_path / "runs"
    exp = copy_run(reach_run, runs)
    out = run(
        command(
            "train",
            "config=test_record",
            "test.clips.keep=3",
            "test.realtime=false",
            "test.id=rec",
            "test.render.width=160",
            "test.render.height=120",
            "test.clips.tensorboard=true",
            checkpoint="latest",
            testGamesNum=5,
            numEnvs=1,
            runsDir=runs,
        ),
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert out.stdout.count("test summary: episodes 5") == 1
    videos = next(runs.glob("Reach_test_*")) / "videos"
    clips = complete_clips(videos)
    assert [c["episode"] for c in clips] in ([1, 3, 5], [1, 4, 5]), clips
    assert all(c["format"] == "mp4" and c["length"] == EPISODE and c["frames"] == EPISODE // 2 for c in clips)
    assert sorted(p.suffix for p in videos.iterdir()) == [".json"] * 3 + [".mp4"] * 3  # no temp left
    assert "Traceback" not in out.stderr and out.stderr.count("clip episode_") == 5

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(exp / "eval" / "rec"), size_guidance={"images": 0})
    events.Reload()
    gifs = events.Images("clips/rec")
    assert [g.step for g in gifs] == [1, 2, 3, 4, 5]
    assert all(g.encoded_image_string.startswith(b"GIF89a") and g.width == 160 for g in gifs)


def test_a_killed_tester_never_leaves_a_partial_clip(tmp_path, reach_run):
    """SIGKILL while a clip is being encoded: only a hidden temp is left, which nothing lists; the tester
    restarted (same id, as the stack restarts it) sweeps it away and records the clip whole."""
    runs = tmp_path / "runs"
    exp = copy_run(reach_run, runs)
    folder = exp / "eval" / "killed" / "clips"
    cmd = command(
        "tester",
        "test.id=killed",
        "test.render.width=160",
        "test.render.height=120",
        checkpoint="latest",
        numEnvs=1,
        runsDir=runs,
    )

    def start(name):
        return subprocess.Popen(cmd, cwd=ROOT, stdout=open(tmp_path / name, "w"), stderr=subprocess.STDOUT)

    def alive(proc, name):
        assert proc.poll() is None, (tmp_path / name).read_text()[-3000:]
        return True

    proc = start("first.log")
    try:  # real time: the clip takes the episode's 2 s to record
        temps = wait_for(
            lambda: alive(proc, "first.log") and folder.is_dir() and list(folder.glob(".*.tmp")),
            120,
            step=0.05,
            what="a clip being written",
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert sorted(folder.iterdir()) == temps  # the half-written clip is only a hidden temp

    again = start("again.log")
    try:
        wait_for(
            lambda: alive(again, "again.log") and not any(t.exists() for t in temps),
            120,
            what="the restarted tester sweeping the temp",
        )
        wait_for(lambda: alive(again, "again.log") and list(folder.glob("*.mp4")), 120, what="the clip, whole")
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=30) == 0
    clips = complete_clips(folder)
    assert len(clips) == 1 and clips[0]["length"] == EPISODE and clips[0]["tester"] == "killed"
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []

"""A montage of a training run: one evaluation episode per chosen checkpoint, in one labelled video.

    python -m services.tester.montage CHECKPOINT [--count 6 | --every N] [--layout sequence|grid] [--out PATH]

CHECKPOINT is what `checkpoint=` takes (latest, an experiment directory or a unique part of its name).
Every chosen checkpoint plays the same seeded episode of world 0 (`env.reset(seed=...)`, the mean action),
so the segments differ only by the policy. `sequence`: each segment opens with a title card and carries
its label; `grid`: the episodes side by side, each tile labelled, a finished one holding its last frame.
It goes to `<experiment>/eval/montage/` unless `--out` says otherwise;
a sidecar JSON beside the video lists the segments (epoch, checkpoint, return, success, start and end).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from .video import VideoFile, clip_rate

TITLE_S = 0.8  # a title card's length in the sequence
MONTAGE_ID = "montage"  # its folder under eval/, beside each tester's (eval/<tester id>/)


def choose(checkpoints: list, count: int | None = None, every: int | None = None) -> list:
    """Every `every`-th checkpoint (the newest always included), or `count` spread evenly over the run's
    epochs (the first and the last included). By epoch, not by position: checkpoint retention keeps a
    run's older history sparse, and picks spread by position would crowd its recent end."""
    if every:
        picked = checkpoints[::every]
        return picked if picked[-1] is checkpoints[-1] else [*picked, checkpoints[-1]]
    if count >= len(checkpoints):
        return list(checkpoints)
    from services.core.checkpoints import epoch_of

    epochs = [epoch_of(p) for p in checkpoints]
    picked: list[int] = []
    for target in np.linspace(epochs[0], epochs[-1], count):
        picked.append(min((i for i in range(len(epochs)) if i not in picked), key=lambda i: abs(epochs[i] - target)))
    return [checkpoints[i] for i in sorted(picked)]


def play_episode(env, model, seed: int, render, stride: int) -> tuple[list, dict]:
    """World 0's seeded episode under `model`: its frames (every `stride` steps) and its figures."""
    from .policy import act

    obs, frames, t = env.reset(seed=seed), [render()], 0
    while True:
        obs, _reward, done, info = env.step(act(model, obs, True))
        t += 1
        if bool(done[0]):
            episode = next(e for e in info["episodes"] if e["world"] == 0)
            return frames, episode
        if t % stride == 0:
            frames.append(render())


def label(checkpoint, epoch, episode) -> list[str]:
    return [
        f"epoch {epoch if epoch is not None else checkpoint.stem}",
        f"return {episode['return']:.1f}   {'success' if episode['success'] else 'no success'}",
    ]


def run(args) -> int:
    from tqdm import tqdm

    from services.core.checkpoints import ResolveError, epoch_of, list_checkpoints, load_checkpoint, resolve
    from services.core.config import load_config
    from services.sim import make_env

    from .frames import FrameMaker
    from .policy import PolicyBuilder
    from .taskkit import task_to_play

    try:
        experiment = resolve(args.checkpoint, args.runs_dir).experiment
    except ResolveError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = load_config(["config=test", f"runsDir={args.runs_dir}"], "test")
    task, params = task_to_play(experiment, cfg.task, cfg.train.params)  # the run's own, from its config.yaml
    found = sorted((p for p in list_checkpoints(experiment) if epoch_of(p) is not None), key=epoch_of)
    if not found:
        print(f"error: {experiment} has no periodic checkpoint (nn/last_*_ep_<E>_*.pth) yet", file=sys.stderr)
        return 2
    chosen = choose(found, args.count, args.every)
    r = cfg.test.render
    width, height = args.width or r.width, args.height or r.height
    env = make_env(task, num_envs=1, device="cpu", seed=cfg.train.seed, backend="mujoco")
    builder = PolicyBuilder(params, env.num_obs, env.num_actions)
    stride, rate = clip_rate(env.dt, r.fps)
    frames_of = {}
    try:
        render = lambda: env.render(width, height, args.camera or r.camera)  # noqa: E731
        for path in tqdm(chosen, desc=f"montage of {experiment.name}", unit="checkpoint"):
            model = builder.from_state(load_checkpoint(path)["model"])
            frames_of[path] = play_episode(env, model, args.seed, render, stride)
    finally:
        env.close()
    out = Path(args.out or experiment / "eval" / MONTAGE_ID / f"montage_{args.layout}.{args.format}")
    out.parent.mkdir(parents=True, exist_ok=True)
    maker = FrameMaker(task.name, width, height)
    segments = (sequence if args.layout == "sequence" else grid)(frames_of, maker, out, rate, args.format)
    meta = {
        "experiment": experiment.name,
        "layout": args.layout,
        "seed": args.seed,
        "fps": float(rate),
        "video": out.name,
        "segments": segments,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(
        f"montage: {out} ({len(segments)} checkpoints, epochs "
        f"{', '.join(str(s['epoch']) for s in segments)}, {args.layout})"
    )
    return 0


def _segment(path, episode, **more) -> dict:
    from services.core.checkpoints import epoch_of

    return {
        "epoch": epoch_of(path),
        "checkpoint": path.name,
        "return": round(float(episode["return"]), 6),
        "success": bool(episode["success"]),
        "length": int(episode["length"]),
        **more,
    }


def sequence(frames_of: dict, maker, out: Path, rate, fmt: str) -> list[dict]:
    """Title card, then the episode with its label, for each checkpoint in turn."""
    from services.core.checkpoints import epoch_of

    h, w = next(iter(frames_of.values()))[0][0].shape[:2]
    video, segments = VideoFile(out, w, h, rate, fmt), []
    try:
        for path, (frames, episode) in frames_of.items():
            lines = label(path, epoch_of(path), episode)
            card = np.full((h, w, 3), 24, np.uint8)
            maker.annotate(card, [f"{maker.task}", *lines], size=2.0)
            start = video.frames / float(rate)
            for _ in range(max(1, round(TITLE_S * float(rate)))):
                video.add(card)
            for rgb in frames:
                img = np.array(rgb)
                maker.annotate(img, lines)
                video.add(img)
            segments.append(
                _segment(path, episode, start_s=round(start, 3), end_s=round(video.frames / float(rate), 3))
            )
        video.finish()
    except BaseException:
        video.abort()
        raise
    return segments


def grid(frames_of: dict, maker, out: Path, rate, fmt: str) -> list[dict]:
    """The episodes side by side (columns x rows near a square), each tile labelled."""
    import cv2

    from services.core.checkpoints import epoch_of

    n = len(frames_of)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    h, w = next(iter(frames_of.values()))[0][0].shape[:2]
    tw, th = (w // cols) & ~1, (h // cols) & ~1  # tiles keep the frame's aspect ratio
    video, segments = VideoFile(out, tw * cols, th * rows, rate, fmt), []
    length = max(len(frames) for frames, _ in frames_of.values())
    try:
        for t in range(length):
            canvas = np.zeros((th * rows, tw * cols, 3), np.uint8)
            for i, (path, (frames, episode)) in enumerate(frames_of.items()):
                tile = cv2.resize(frames[min(t, len(frames) - 1)], (tw, th), interpolation=cv2.INTER_AREA)
                maker.annotate(tile, label(path, epoch_of(path), episode))
                r, c = divmod(i, cols)
                canvas[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = tile
            video.add(canvas)
        video.finish()
    except BaseException:
        video.abort()
        raise
    for i, (path, (_, episode)) in enumerate(frames_of.items()):
        r, c = divmod(i, cols)
        segments.append(_segment(path, episode, tile=[c * tw, r * th, tw, th]))
    return segments


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m services.tester.montage", description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", help="an experiment: latest, its directory or a unique part of its name")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--count", type=int, default=6, help="N checkpoints spread evenly (default 6)")
    which.add_argument("--every", type=int, help="every Nth periodic checkpoint (and the newest)")
    p.add_argument("--layout", choices=("sequence", "grid"), default="sequence")
    p.add_argument("--out", help="the video file (default <experiment>/eval/montage/montage_<layout>.<format>)")
    p.add_argument("--format", choices=("mp4", "webm"), default="mp4")
    p.add_argument("--runs-dir", default="runs", help="the runs root (default runs)")
    p.add_argument("--seed", type=int, default=1000, help="the episode's reset seed (default 1000)")
    p.add_argument("--width", type=int, help="frame width (default test.render.width)")
    p.add_argument("--height", type=int, help="frame height (default test.render.height)")
    p.add_argument("--camera", help="fixed | track (default test.render.camera)")
    args = p.parse_args(argv)
    for name in ("count", "every"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name} {getattr(args, name)}: accepts an integer >= 1")
    if args.out:  # the file's name says the format
        if Path(args.out).suffix not in (".mp4", ".webm"):
            p.error(f"--out {args.out}: the name must end in .mp4 or .webm")
        args.format = Path(args.out).suffix[1:]
    from services.core.logs import setup_logging

    setup_logging()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

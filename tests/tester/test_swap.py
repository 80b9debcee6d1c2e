"""The swap point on the real Tester loop: a checkpoint landing mid-episode changes the weights between
two steps, and the episode, its return and the frames carry on."""

import logging
import re
import threading

import torch

from services.core.checkpoints import load_checkpoint
from services.streamer.hub import Hub
from services.tester import build
from tests.tester.helpers import actions_of, config_for, land, play_then_close_env, wait_for

EPISODE = 100  # Reach episodes end by time only: 100 control steps


def record_steps(tester):
    """Wrap the env's step to note, per control step, what acted on which observation, and the outcome."""
    env, real_step, steps = tester.env, tester.env.step, []

    def step(actions):
        before = {
            "loaded": tester.current,
            "obs": tester.obs.clone(),
            "actions": actions.clone(),
            "shown_return": tester.ep_return,
        }
        obs, reward, done, info = real_step(actions)
        steps.append(
            {
                **before,
                "reward": float(reward[0]),
                "done": bool(done[0]),
                "episode": next((e for e in info.get("episodes", ()) if e["world"] == 0), None),
            }
        )
        return obs, reward, done, info

    env.step = step
    return steps


def steps_into_episode(steps) -> int:
    n = 0
    for s in reversed(steps):
        if s["done"]:
            break
        n += 1
    return n


def test_a_checkpoint_landing_mid_episode_swaps_weights_and_the_episode_goes_on(
    runs_dir, reach_checkpoints, new_run, builder, caplog
):
    old_file, new_file = reach_checkpoints[0], reach_checkpoints[-1]
    exp = new_run(old_file)
    cfg = config_for(
        runs_dir,
        "checkpoint=latest",
        "numEnvs=1",
        "reloadInterval=0.2",
        "test.id=swap",
        "test.render.width=160",
        "test.render.height=120",
        "test.render.fps=25",
        "test.realtime=true",
    )
    hub = Hub()
    service = build(cfg, hub)
    tester = service.tester
    tester.readers.add("test")  # we read its frames: a tester renders only for readers
    caplog.set_level(logging.INFO, logger="tester.reload")
    steps = record_steps(tester)
    stop = threading.Event()
    loop = threading.Thread(target=play_then_close_env, args=(tester, stop), daemon=True)
    loop.start()
    try:
        wait_for(lambda: steps, 60, what="the first checkpoint acting")
        # land it a third of the way into an episode of world 0 (real time: 2/3 of it, 1.3 s, remain)
        wait_for(
            lambda: EPISODE // 3 <= steps_into_episode(steps) < EPISODE // 2,
            60,
            step=0.005,
            what="a third of an episode",
        )
        land(new_file, exp / "nn" / new_file.name)
        wait_for(
            lambda: any(s["loaded"].path.name == new_file.name for s in steps), 20, what="the new checkpoint acting"
        )
        frames_at_swap = hub.channel("swap").frames_in
        swap = next(i for i, s in enumerate(steps) if s["loaded"].path.name == new_file.name)
        wait_for(lambda: any(s["done"] for s in steps[swap:]), 60, what="the episode the swap fell in to end")
        wait_for(lambda: hub.channel("swap").frames_in >= frames_at_swap + 10, 20, what="frames after the swap")
    finally:
        stop.set()
        loop.join(timeout=10)
        service.close()
    assert not loop.is_alive()

    # the episode around the swap: it began before the swap and ended a full episode later, unbroken
    start = max(i for i in range(swap) if steps[i]["done"]) + 1 if any(s["done"] for s in steps[:swap]) else 0
    end = next(i for i in range(swap, len(steps)) if steps[i]["done"])
    assert start < swap <= end and end - start + 1 == EPISODE, (start, swap, end)
    episode = steps[end]["episode"]
    assert episode is not None and episode["length"] == EPISODE
    rewards = [s["reward"] for s in steps[start : end + 1]]
    assert abs(episode["return"] - sum(rewards)) < 1e-3 * max(1.0, abs(sum(rewards)))
    # the return shown on frames kept counting across the swap, it did not restart at 0
    assert abs(steps[swap]["shown_return"] - sum(rewards[: swap - start])) < 1e-3
    assert steps[swap]["shown_return"] != 0.0

    # the old weights acted up to the swap, the new ones from it on
    old_model = builder.from_state(load_checkpoint(old_file)["model"])
    new_model = builder.from_state(load_checkpoint(new_file)["model"])
    for i in (start, swap - 1):
        assert torch.equal(steps[i]["actions"], actions_of(old_model, steps[i]["obs"])), i
    for i in (swap, end):
        assert torch.equal(steps[i]["actions"], actions_of(new_model, steps[i]["obs"])), i
        assert not torch.equal(steps[i]["actions"], actions_of(old_model, steps[i]["obs"])), i

    # one log line: old -> new, the epoch and the load time
    epoch = load_checkpoint(new_file)["epoch"]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reload ")]
    pattern = rf"reload {re.escape(old_file.name)} -> {re.escape(new_file.name)} \(epoch {epoch}, load \d+ ms\)"
    assert [line for line in lines if re.fullmatch(pattern, line)], lines
    assert tester.reloader.reloads == 1

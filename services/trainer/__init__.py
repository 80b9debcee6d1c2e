"""Trainer service: rl_games PPO on a services.sim task, writing checkpoints into runs/<exp>/nn/.

    python -m services.trainer task=Reach numEnvs=64      (= python train.py config=train_headless ...)

One run: check the device, resolve a resume checkpoint, create the experiment (latest_train moves to
it), build the batched env, hand it to rl_games, train until maxIterations (the task's budget in
configs/train/<Task>PPO.yaml; null = until stopped) or a signal, save last.

Resume: `checkpoint=latest` (or any checkpoint= form) continues that run's newest checkpoint in a
*new* experiment (runs stay append-only; latest_train moves, so testers follow). Weights, normalizers,
optimizer, epoch and frame carry over: epochs count on, so maxIterations is the total to reach.
"""

from __future__ import annotations

import logging
import random
import sys
from pathlib import Path

log = logging.getLogger("trainer")


class TrainError(Exception):
    """A refused start (bad device, unusable resume checkpoint); str() is the one line to print."""


def run(cfg) -> int:
    """Train as `cfg` says; return the process exit code (0 also after SIGINT/SIGTERM, 2 if refused)."""
    from services.sim.backends.warp import SimulationOverflow

    try:
        check_device(cfg.device)
        return _train(cfg, resume_state(cfg))
    except TrainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SimulationOverflow as e:  # the checkpoints so far stay; the message names the key to raise
        print(f"error: {e}", file=sys.stderr)
        return 1


def _train(cfg, resume) -> int:
    import numpy as np
    import torch
    from rl_games.torch_runner import Runner
    from tqdm.contrib.logging import logging_redirect_tqdm

    from services.core.experiments import create_experiment
    from services.core.logs import add_log_file
    from services.core.signals import stop_on_signals
    from services.sim import make_env

    from . import rlgames_env
    from .keeper import Keeper
    from .params import rl_games_params
    from .progress import Progress, StopRequested
    from .rlgames_io import patched_checkpoint_io, quiet_prints
    from .summaries import ThinnedWriter

    task, seed = str(cfg.task.name), cfg.train.seed
    try:  # before the experiment exists: a refused task value or backend leaves no empty run behind
        env = make_env(
            cfg.task,
            num_envs=cfg.env.numEnvs,
            device=cfg.device,
            seed=seed,
            backend=cfg.env.backend,
            compile=cfg.env.compile,
        )
    except ValueError as e:
        raise TrainError(str(e)) from None
    experiment = create_experiment(cfg.runsDir, task, "train", cfg)  # latest_train -> this run, now
    add_log_file(experiment / "train.log")
    log.info(
        "experiment %s (%s, %d envs, %s; physics %s on %s; task math %s)",
        experiment,
        task,
        cfg.env.numEnvs,
        cfg.device,
        type(env.physics).__name__,
        env.sim_device,
        "fused by torch.compile on the first step (env.compile)" if env.fusion.enabled else "eager",
    )
    log.info("observations %s", env.obs_layout)
    if env.state_layout is not None:
        log.info("critic states %s", env.state_layout)
    if resume is not None:
        log.info("resuming from %s (epoch %d)", resume[0], resume[1]["epoch"])
    keeper = Keeper.from_cfg(cfg, experiment)  # retention, archive, disk figures (keeper.py)
    keeper.start()
    # rl_games seeds only for seed != 0; seed 0 must be reproducible too.
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    rlgames_env.register(env, cfg.device)
    params = rl_games_params(cfg, experiment)

    with (
        stop_on_signals(_announce_stop, abort_on_second=True) as stop,
        patched_checkpoint_io(on_saved=keeper.saved),
        quiet_prints(),
        logging_redirect_tqdm(),
    ):
        progress = Progress(
            cfg.train.maxIterations,
            cfg.train.printInterval,
            stop,
            experiment=experiment,
            keeper=keeper,
            endings=env.endings,
        )
        runner = Runner(algo_observer=progress)
        runner.load({"params": params})
        agent = runner.algo_factory.create(runner.algo_name, base_name="run", params=runner.params)
        if resume is not None:
            restore(agent, *resume)
        if agent.writer is not None:  # fewer scalars as the run grows (summaries.py)
            first_epoch = agent.epoch_num
            agent.writer = ThinnedWriter(agent.writer, lambda: agent.epoch_num - first_epoch)
        if params["config"].get("torch_compile", False):
            agent.model = torch.compile(agent.model)  # after restore: compiled keys get a prefix
        progress.start(agent.epoch_num)
        try:
            agent.train()
            log.info("done: %d epochs; checkpoints in %s", agent.epoch_num, experiment / "nn")
        except StopRequested:
            save_final(agent, progress, stop.signal_name)
        finally:
            progress.close()
            if agent.writer is not None:
                agent.writer.close()
            env.close()
    return 0


def _announce_stop(signal_name: str) -> None:
    log.info("%s: stopping; a final checkpoint will be saved (send it again to abort)", signal_name)


def check_device(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainError(f"device={device}: CUDA is not available here (torch {torch.__version__}); use device=cpu")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise TrainError(f"device={device}: only {torch.cuda.device_count()} CUDA device(s) here")


def resume_state(cfg):
    """`checkpoint=` in train mode: (path, state) of the checkpoint to continue, or None.

    Resolved before the new experiment exists, since that moves latest_train.
    """
    spec = cfg.train.checkpoint
    if not spec:
        return None
    from services.core.checkpoints import CheckpointError, ResolveError, load_checkpoint, resolve

    try:
        found = resolve(spec, cfg.runsDir)
    except ResolveError as e:
        raise TrainError(str(e)) from None
    if found.checkpoint is None:
        raise TrainError(f"checkpoint={spec}: {found.experiment} has no checkpoint yet")
    from services.core.experiments import trained_task

    trained = trained_task(found.experiment)  # the run's saved config, as a tester reads it
    trained_on = trained and str(trained[0].name)
    if trained_on and trained_on != str(cfg.task.name):
        raise TrainError(
            f"checkpoint={spec}: {found.checkpoint.name} was trained on task={trained_on}, not task={cfg.task.name}"
        )
    try:
        state = load_checkpoint(found.checkpoint)
    except CheckpointError as e:
        raise TrainError(f"checkpoint={spec}: {e}") from None
    epoch, budget = int(state.get("epoch", 0)), cfg.train.maxIterations
    if budget is not None and epoch >= budget:
        raise TrainError(
            f"checkpoint={spec}: {found.checkpoint.name} is at epoch {epoch}, "
            f"maxIterations={budget}; raise maxIterations to train on"
        )
    return found.checkpoint, state


def restore(agent, path: Path, state: dict) -> None:
    """Weights, normalizers, optimizer, epoch and frame count from `state` (shapes checked first)."""
    from services.core.checkpoints import CheckpointError, check_compatible

    try:
        check_compatible(state["model"], agent.model.state_dict(), path)
    except CheckpointError as e:
        raise TrainError(f"checkpoint: {e} (trained on another task or network?)") from None
    agent.set_full_state_weights(state, set_epoch=True)


def save_final(agent, progress, signal_name: str) -> None:
    """The signal's checkpoint: the weights of the last finished epoch, atomically, rl_games-named."""
    import os

    epoch = progress.completed_epoch
    if epoch <= progress.start_epoch:
        log.info("%s before the first epoch finished: nothing new to save", signal_name)
        return
    agent.epoch_num = epoch  # a stop mid-rollout has already counted the unfinished epoch
    ret = progress.mean_return()
    name = f"last_{agent.config['name']}_ep_{epoch}_rew_{ret if ret is not None else float('-inf')}"
    agent.save(os.path.join(agent.nn_dir, name))
    log.info("%s: saved final checkpoint at epoch %d; exiting", signal_name, epoch)

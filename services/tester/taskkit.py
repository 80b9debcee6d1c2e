"""What a tester builds per task: the worlds it plays and the network builder its checkpoints must fit.

Checkpoints belong to the task config they were trained with (task, hand, network shape), so a tester plays
a run in the config saved with it (core.experiments.trained_task), whatever `task=` says. `checkpoint=` is
resolved once at start (`resolve_start`); a tester following `latest` builds a new kit when `latest_train`
moves to a run of another task (or hand): the reloader builds it off the stepping thread with the run's
first checkpoint, and the tester swaps it in with those weights.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from services.core.checkpoints import LATEST_SPECS, ResolveError, resolve
from services.core.experiments import trained_task

from .policy import PolicyBuilder

log = logging.getLogger("tester")


@dataclass
class TaskKit:
    task: object  # the task config (cfg.task)
    params: object  # rl_games params (cfg.train.params): the network
    env: object  # services.sim BatchedEnv on the CPU backend
    builder: PolicyBuilder

    @property
    def name(self) -> str:
        return str(self.task.name)

    @property
    def identity(self) -> str:
        return task_identity(self.task, self.params)


@dataclass(frozen=True)
class Start:
    """`checkpoint=` as resolved at start: the run it names and the task config and network to play it in."""

    experiment: Path | None  # None: `latest*` before any run exists (or a lone .pth outside one)
    task: object  # cfg.task: the run's own when its config.yaml says, else the configured one
    params: object  # cfg.train.params (the network), likewise


def resolve_start(cfg) -> Start:
    """Resolve `checkpoint=` once, at start. ResolveError when it names nothing (a typo); a `latest*` that
    does not exist yet is no error: the configured task waits for its first run."""
    try:
        experiment = resolve(cfg.train.checkpoint, cfg.runsDir).experiment
    except ResolveError:
        if cfg.train.checkpoint not in LATEST_SPECS:
            raise
        experiment = None
    return Start(experiment, *task_to_play(experiment, cfg.task, cfg.train.params))


def task_to_play(experiment, task, params) -> tuple:
    """(task config, network) to play `experiment` in: the ones it was trained with when its config.yaml
    says (logged when they differ from `task`), else `task`, `params`."""
    trained = trained_task(experiment) if experiment is not None else None
    if trained is None:
        return task, params
    if (trained[0].get("name"), trained[0].get("hand")) != (task.get("name"), task.get("hand")):
        log.info(
            "playing task=%s%s: the task %s was trained on",
            trained[0].name,
            f" (task.hand={trained[0].hand})" if trained[0].get("hand") else "",
            Path(experiment).name,
        )
    return trained


def task_identity(task, params) -> str:
    """What must match for a run to play in a kit: its whole task config (task, hand, rewards,
    observations) and the network it was trained with."""
    network = params.get("network") if params is not None else None
    return json.dumps([_plain(task), _plain(network)], sort_keys=True, default=str)


def _plain(value):
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


class KitFactory:
    """Builds kits with the tester's own settings (worlds, device, seed)."""

    def __init__(self, num_envs: int, device: str, seed: int):
        self.num_envs, self.device, self.seed = int(num_envs), device, int(seed)

    def build(self, task, params) -> TaskKit:
        from services.sim import make_env

        # Always the CPU backend: it renders world 0 every frame; a GPU-trained checkpoint plays the same.
        env = make_env(task, num_envs=self.num_envs, device=self.device, seed=self.seed, backend="mujoco")
        return TaskKit(task, params, env, PolicyBuilder(params, env.num_obs, env.num_actions, self.device))

    def for_run(self, experiment, current: TaskKit) -> TaskKit:
        """The kit to play `experiment` in: `current` when it fits (or the run's task is unknown), else a
        new one for the task the run was trained on."""
        trained = trained_task(experiment) if experiment is not None else None
        if trained is None or task_identity(*trained) == current.identity:
            return current
        kit = self.build(*trained)
        log.info(
            "%s was trained on task=%s%s: built its worlds and network (the tester played %s)",
            experiment.name,
            kit.name,
            f" (task.hand={kit.task.hand})" if kit.task.get("hand") else "",
            current.name,
        )
        return kit

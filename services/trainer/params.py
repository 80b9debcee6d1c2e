"""rl_games `params` for one run: the task's `train.params` with the run's own values filled in."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf


def rl_games_params(cfg, experiment: Path) -> dict:
    """A plain dict for `Runner.load({'params': ...})`; files land in `<experiment>/{nn,summaries}`.

    The top-level keys win over anything in configs/train/<Task>PPO.yaml's `params`, so `numEnvs=`, `seed=`,
    `maxIterations=`, `train.saveFrequency=` and `device=` mean the same for every task.
    """
    params = OmegaConf.to_container(cfg.train.params, resolve=True)
    budget = cfg.train.maxIterations  # None = until stopped
    params["seed"] = cfg.train.seed
    config = params["config"]
    config.update(
        num_actors=cfg.env.numEnvs,
        max_epochs=-1 if budget is None else budget,  # rl_games' -1: no limit
        save_frequency=cfg.train.saveFrequency,
        device=cfg.device,
        device_name=cfg.device,
        # rl_games puts everything under <train_dir>/<full_experiment_name>/: our experiment dir.
        train_dir=str(Path(experiment).parent),
        full_experiment_name=Path(experiment).name,
    )
    config.setdefault("name", str(cfg.task.name))
    return params

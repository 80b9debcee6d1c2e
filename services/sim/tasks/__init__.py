"""Task registry: `task.name` -> task class, or `task.class: package.module:ClassName` for a user's task.

Built-in tasks register here; a task that lives outside this repo names its class in its config
(docs/tasks.md), and its module is imported from PYTHONPATH when the env is made.
"""

from __future__ import annotations

import importlib

from services.sim.tasks.base import Cfg, Evaluation, SimState, Task, TaskConfigError, reward_weights, scale_rewards

TASKS: dict[str, type] = {}


def register_task(cls: type) -> type:
    TASKS[cls.name] = cls
    return cls


def task_class(cfg: Cfg) -> type:
    spec = cfg.raw("class", None)
    if spec is not None:
        return _import_class(str(spec))
    name = cfg.raw("name")
    if name not in TASKS:
        raise TaskConfigError(
            f"task.name={name!r}: unknown task; accepts {', '.join(sorted(TASKS))} "
            "(or name your own with task.class=package.module:ClassName)"
        )
    return TASKS[name]


def _import_class(spec: str) -> type:
    module_name, _, attr = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr) if attr else None
    except ImportError as e:
        raise TaskConfigError(
            f"task.class={spec!r}: cannot import {module_name} ({e}); is its folder on PYTHONPATH?"
        ) from None
    except AttributeError:
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise TaskConfigError(
            f"task.class={spec!r}: not accepted; expects package.module:ClassName of a services.sim.tasks.Task subclass"
        )
    return cls


from services.sim.tasks.blind_grasping import BlindGrasping  # noqa: E402
from services.sim.tasks.hand_task import HandTask  # noqa: E402
from services.sim.tasks.reach import Reach  # noqa: E402

register_task(Reach)
register_task(BlindGrasping)

__all__ = [
    "Cfg",
    "Evaluation",
    "HandTask",
    "SimState",
    "Task",
    "TaskConfigError",
    "TASKS",
    "register_task",
    "reward_weights",
    "scale_rewards",
    "task_class",
]

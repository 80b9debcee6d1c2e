"""Task registry: cfg.task.name -> task class (pure numpy over all worlds; see tasks/base.py)."""
from __future__ import annotations

from services.sim.tasks.base import Cfg, HandTask, SimState, TaskConfigError

TASKS: dict[str, type] = {}


def register_task(cls: type) -> type:
    TASKS[cls.name] = cls
    return cls


def task_class(cfg: Cfg) -> type:
    name = cfg.raw("name")
    if name not in TASKS:
        raise TaskConfigError(f"task.name={name!r}: unknown task; accepts {', '.join(sorted(TASKS))}")
    return TASKS[name]


from services.sim.tasks.reach import Reach  # noqa: E402

register_task(Reach)
from services.sim.tasks.blind_grasping import BlindGrasping  # noqa: E402

register_task(BlindGrasping)

__all__ = ["Cfg", "HandTask", "SimState", "TaskConfigError", "TASKS", "register_task", "task_class"]

"""`python train.py --help`: the presets, tasks and aliases, then every run-level key from RunConfig."""

from __future__ import annotations

import re
import textwrap

from . import schema
from .config import ALIASES, CONFIG_DIR, PRESETS, choices, load_config
from .run_config import RunConfig


def help_text() -> str:
    base = load_config([], "config")
    lines = [
        "policycast — watch an RL policy improve while it trains",
        "",
        "usage: python train.py [config=PRESET] [alias=value ...] [dotted.key=value ...] [--cfg job [--resolve]]",
        "",
        "presets (config=):",
    ]
    for name in PRESETS:
        first = (CONFIG_DIR / f"{name}.yaml").read_text().splitlines()[0].lstrip("# ").strip()
        lines.append(f"  {name:<15} {first}")
    lines += ["", f"tasks (task=): {', '.join(choices('task'))}", "", "aliases (default):"]
    for alias, key in ALIASES.items():
        default = (
            base.task.name
            if key == "task"
            else "per task"
            if key == "train.maxIterations"
            else schema.spelled(schema.setting(RunConfig, key).default)
        )
        target = "" if alias == key else f" -> {key}"
        lines.append(f"  {alias + '=':<16} {default:<12}{target}")
    lines += [
        "",
        "maxIterations: PPO epochs; each task's configs/train/<Task>PPO.yaml sets its budget",
        "  (Reach 300, BlindGrasping null = until stopped); maxIterations=N overrides it.",
        "",
        "keys (key=value; its default; what it does and accepts):",
        *_key_lines(),
        "",
        "Examples:",
        "  python train.py config=train_headless task=Reach",
        "  python train.py config=test_stream testGamesNum=0 checkpoint=latest reloadInterval=30",
        "  python train.py config=test_record checkpoint=latest testGamesNum=10   # MP4s in runs/<exp>/videos/",
        "  python train.py config=test checkpoint=latest --cfg job [--resolve]    # print the config, exit",
    ]
    return "\n".join(lines)


def _key_lines(width: int = 116) -> list[str]:
    """Every run-level key under its section's heading (a section's own keys before its subsections'),
    from RunConfig: the key, its default, its doc and what it accepts (the words of its refusal)."""
    aliases = {key: alias for alias, key in ALIASES.items() if alias != key}
    headings, by_section = schema.sections(RunConfig), {}
    for s in schema.settings(RunConfig):
        by_section.setdefault(s.key.rpartition(".")[0], []).append(s)
    lines = []
    for section, settings in by_section.items():
        if section:
            lines.append(f"{section}: {headings[section]}")
        for s in settings:
            if s.free_form:
                lines.append(f"  {s.key:<26}{'(free-form)':<16}{s.doc}")
                continue
            alias = f" Alias {aliases[s.key]}=." if s.key in aliases else ""
            text = f"  {s.key:<26}{schema.spelled(s.default):<16}{s.doc}. Accepts {s.expects()}.{alias}"
            text = re.sub(r"\[(\S+), ", "[\\1,\xa0", text)  # no line break inside a range such as [0, 65535]
            wrapped = textwrap.wrap(text, width, subsequent_indent=" " * 44, break_on_hyphens=False)
            lines += [line.replace("\xa0", " ") for line in wrapped]
    return lines

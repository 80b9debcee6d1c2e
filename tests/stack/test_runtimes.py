"""Local, Compose and Swarm are one module each with the same verbs: `python -m services.stack` picks a
runtime and calls its verb, so a runtime that lacks one, or takes other arguments, would fail only on
the machines that run it (a Docker engine, a swarm). Checked here without any of them."""

import inspect

from services.stack import compose, local, swarm

VERBS = {
    "running": [],
    "up": ["a", "saved"],
    "down": [],
    "ps": ["port"],
    "logs": ["tail", "follow"],
    "testers": ["experiment", "n"],
    "keep": ["experiment", "undo"],
    "tensorboard": ["port"],
}


def test_every_runtime_has_every_verb_with_the_same_parameters():
    for runtime in (local, compose, swarm):
        for verb, params in VERBS.items():
            assert callable(getattr(runtime, verb, None)), f"{runtime.__name__} has no {verb}()"
            assert list(inspect.signature(getattr(runtime, verb)).parameters) == params, (runtime.__name__, verb)

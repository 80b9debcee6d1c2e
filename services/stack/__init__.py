"""The stack: trainer, sync, tester(s) and streamer run together, behind `python -m services.stack`
(the Makefile's `make up/down/ps/logs/testers/keep/tensorboard/deploy/undeploy`).

One module per runtime, each with the same verbs — `running`, `up`, `down`, `ps`, `logs`, `testers`,
`keep`, `tensorboard`:
- `local.py`: the services as processes of this machine under one supervisor (`supervisor.py`);
- `compose.py`: Docker Compose on this machine's engine;
- `swarm.py`: the same services on the Docker Swarm this engine manages (`make deploy` is its `up`).
`__main__.py` parses the arguments and picks the runtime. What they share: the Docker engine and its
images (`engine.py`), the dashboard's URL and API (`dashboard.py`), the settings that outlive a run —
the control token, the reload interval — in `.policycast.env` (`settings.py`), where training runs
(`gpu.py`), `make ps`'s disk lines (`disk.py`) and TensorBoard's command line (`tensorboard.py`).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: compose files, docker/, PYTHONPATH of the services

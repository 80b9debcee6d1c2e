"""The stack: run trainer, sync, tester(s) and streamer together.

Two runtimes behind one command line (`python -m services.stack ...`, used by the Makefile):
Docker Compose when an engine runs (compose.py), else local processes under one supervisor
(supervisor.py). Settings that outlive a run (the control token, the reload interval) live in
`.policycast.env` (settings.py), which compose also reads.
"""

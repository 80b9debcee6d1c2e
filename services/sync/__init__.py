"""Sync sidecar: mirror a runs/ tree (local or over SSH) with rsync — atomic, resumable, observable.

`python -m services.sync --source SRC --dest DST` ; see `cli.py` for the options and `passes.py` for
the guarantees a reader of DST gets.
"""

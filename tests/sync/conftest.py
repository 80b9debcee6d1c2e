"""Fixtures for the sync tests (the helpers themselves live in helpers.py)."""

from tests.sync.helpers import sync_process  # noqa: F401  (fixture)

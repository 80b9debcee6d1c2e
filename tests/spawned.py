"""Run a test's body in a fresh Python process: for what can happen once per process (MuJoCo's web viewer)."""

import multiprocessing


def in_child(fn, *args, timeout: float = 300):
    """fn(*args) in a spawned interpreter; returns its result, and its exception (with the child's
    traceback as the cause) fails the calling test. `fn` must be a module-level function."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply_async(fn, args).get(timeout)

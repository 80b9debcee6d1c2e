"""Hot reload: find the newest checkpoint, load and validate it off the stepping thread, hand it over.

`interval` is the least time between loading a checkpoint and an automatic reload replacing it (a
newer file in the run, or `latest_train` moving to a new run): users set it to watch each policy for
a while, and a trainer that rewrites its best file every epoch must not flip the policy every second.
Once that time is up, a background thread looks at once and then on filesystem events (watchdog, on
the experiment's `nn/` and on the runs root for `latest_*` moving) and every `interval` seconds
(synced volumes and network filesystems may give no events). A user's own request (`reload_now`,
`pin`, `unpin`) looks at once, whatever the interval; `interval=0` keeps the first checkpoint.
A look resolves `checkpoint=` again, loads anything new through `load_checkpoint` +
`check_compatible`, builds the new network, and parks it in a one-slot mailbox. The stepping loop
calls `take()` between two steps: the swap is one reference assignment there.

A file that failed is remembered by (path, mtime, size) and retried only once it changes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from services.core.checkpoints import (
    LATEST_SPECS,
    CheckpointError,
    ResolveError,
    check_compatible,
    epoch_of,
    inside,
    is_checkpoint_name,
    load_checkpoint,
    resolve,
)

log = logging.getLogger("tester.reload")
WAITING_POLL_S = 1.0  # how often to look while nothing is loaded yet, whatever the interval
BURST_S, BURST_POLL_S = 1.0, 0.02  # after a filesystem event: look every 20 ms for 1 s


def file_key(path: Path) -> tuple | None:
    """Identity of one version of a file: a rewrite (same name, new bytes) is a new version."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_mtime_ns, st.st_size)


@dataclass
class Loaded:
    """A validated checkpoint, ready to swap in."""

    path: Path
    key: tuple
    epoch: int | None
    model: object
    load_ms: float
    experiment: Path | None
    ready_at: float = field(default_factory=time.monotonic)  # parked for the loop (benchmarks read it)
    frame: int | None = None  # env-steps trained (rl_games' `frame`): where it sits on a learning curve


class _Wake(FileSystemEventHandler):
    """Any change in a watched dir wakes the reloader and opens a short fast-polling window.

    Why the window: a checkpoint lands by rename, and watchdog holds a rename's first half for up to
    0.5 s to pair it. The temp file's create/write events come first and are not held, so they are
    the earliest sign that a rename is about to happen.
    """

    def __init__(self, reloader: HotReloader):
        self.reloader = reloader

    def on_any_event(self, event):
        if event.event_type in ("opened", "closed_no_write"):
            return  # reads (ours included) are not news
        self.reloader.burst_until = time.monotonic() + BURST_S
        self.reloader.wake.set()


class HotReloader:
    """Watches what `spec` resolves to and prepares every new checkpoint for the stepping loop.

    make_model(model_state) -> module builds a fresh network (raises on mismatch); `reference` is the
    state dict whose keys/shapes every checkpoint must have.
    """

    def __init__(
        self,
        spec: str,
        runs_dir,
        make_model: Callable,
        reference: dict,
        interval: float = 30.0,
        follow_latest: bool = True,
        watch_events: bool = True,
    ):
        self.spec, self.runs_dir = str(spec), Path(runs_dir)
        self.make_model, self.reference = make_model, reference
        self.interval, self.follow_latest, self.watch_events = float(interval), follow_latest, watch_events
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.mailbox: Loaded | None = None
        self.failed: dict[tuple, str] = {}  # file version -> error line; retried when the version changes
        self.current_key: tuple | None = None  # what the loop runs (or what is waiting in the mailbox)
        self.pinned: Path | None = None
        self.experiment: Path | None = None  # the experiment watched now
        self.reloads = 0
        self.looks = 0  # completed looks for a new checkpoint (tests wait on it)
        self.loaded_at: float | None = None  # monotonic time the current checkpoint was loaded
        self.last_reload_time: float | None = None
        self.last_error: str | None = None
        self._force = False
        self.burst_until = 0.0
        self._observer = None
        self._watched: tuple = ()
        self._thread = threading.Thread(target=self._run, name="reloader", daemon=True)

    # --- control (any thread) -------------------------------------------------------------------
    def start(self) -> HotReloader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self._thread.join(timeout=5)
        self._unwatch()

    def reload_now(self) -> None:
        self._force = True
        self.wake.set()

    def set_interval(self, seconds: float) -> None:
        self.interval = float(seconds)
        self.wake.set()

    def due_in(self) -> float | None:
        """Seconds until an automatic reload may replace the current checkpoint (0: now, also while
        nothing is loaded yet); None when none ever will (interval 0)."""
        if self.current_key is None or self.loaded_at is None:
            return 0.0
        if self.interval <= 0:
            return None
        return max(0.0, self.loaded_at + self.interval - time.monotonic())

    def pin(self, checkpoint) -> Path:
        """Run exactly this file (inside the runs root) until unpin(); ValueError when refused."""
        path = inside(self.runs_dir, checkpoint)
        if not path.is_file() or not is_checkpoint_name(path.name):
            raise ValueError(f"{checkpoint}: not a checkpoint file (.pth) in {self.runs_dir}")
        self.pinned = path
        self.reload_now()
        return path

    def unpin(self) -> None:
        self.pinned = None
        self.reload_now()

    @property
    def fixed(self) -> bool:
        """`checkpoint=` names one .pth file and nothing is pinned: no other checkpoint can come."""
        return self.pinned is None and self.spec.endswith(".pth")

    def take(self) -> Loaded | None:
        """Called by the stepping loop between two steps: the next model to run, if one is ready."""
        if self.mailbox is None:
            return None
        with self.lock:
            loaded, self.mailbox = self.mailbox, None
        return loaded

    # --- the reloader thread --------------------------------------------------------------------
    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.check()
            except Exception as e:  # never let a surprise kill hot reload; say it once per kind
                self._fail(None, f"reload check failed: {type(e).__name__}: {e}")
            wait = self._wait_s()
            # any interval is accepted; a wait longer than the platform's timer would raise
            self.wake.wait(timeout=None if wait is None else min(wait, threading.TIMEOUT_MAX))
            self.wake.clear()

    def _wait_s(self) -> float | None:
        """How long to sleep before the next look (None: until woken); events and requests wake it early."""
        if self._force:
            return 0.0
        due = self.due_in()
        if due is None:
            return None  # interval 0: only the user's requests look again
        if due > 0:
            return due  # events before then are no reason to look: nothing may replace it yet
        burst = time.monotonic() < self.burst_until  # a file event: a rename is about to land
        if self.current_key is None:
            return BURST_POLL_S if burst else WAITING_POLL_S
        return BURST_POLL_S if burst else self.interval

    def check(self) -> Loaded | None:
        """One look, if one is due or asked for: resolve, and load the candidate if it is new.

        Returns what it parked, if anything.
        """
        force, self._force = self._force, False
        if not force and self.due_in() != 0:
            return None  # the current checkpoint has not had its interval yet (or interval 0 keeps it)
        try:
            candidate, experiment = self._candidate()
            self._watch(experiment)
            if candidate is None:
                return None
            key = file_key(candidate)
            if key is None or key == self.current_key or key in self.failed:
                return None
            return self._load(candidate, key, experiment)
        finally:
            self.looks += 1

    def _candidate(self) -> tuple[Path | None, Path | None]:
        if self.pinned is not None:
            exp = self.pinned.parent.parent if self.pinned.parent.name == "nn" else None
            return self.pinned, exp
        spec = self.spec
        if spec in LATEST_SPECS and not self.follow_latest and self.experiment:
            spec = str(self.experiment)  # stay on the experiment we started with
        try:
            res = resolve(spec, self.runs_dir)
        except ResolveError as e:
            if self.last_error != str(e):
                log.info("waiting: %s", e)
                self.last_error = str(e)
            return None, None
        if self.experiment is not None and res.experiment != self.experiment:
            log.info(
                "following %s: %s -> %s",
                res.follows or spec,
                self.experiment.name,
                res.experiment.name if res.experiment else None,
            )
        self.experiment = res.experiment
        return res.checkpoint, res.experiment

    def _load(self, path: Path, key: tuple, experiment) -> Loaded | None:
        t0 = time.perf_counter()
        try:
            state = load_checkpoint(path)
            check_compatible(state["model"], self.reference, path)
            model = self.make_model(state["model"])
        except CheckpointError as e:
            return self._fail(key, str(e))
        except Exception as e:  # e.g. load_state_dict dtype trouble: refuse the file, keep running
            return self._fail(key, f"incompatible checkpoint {path.name}: {type(e).__name__}: {e}")
        epoch = state.get("epoch") if isinstance(state.get("epoch"), int) else epoch_of(path)
        frame = state.get("frame") if isinstance(state.get("frame"), int) else None
        loaded = Loaded(path, key, epoch, model, (time.perf_counter() - t0) * 1000, experiment, frame=frame)
        with self.lock:
            self.mailbox = loaded
            self.current_key = key
            self.loaded_at = loaded.ready_at
        return loaded

    def _fail(self, key, message: str) -> None:
        if key is not None:
            self.failed[key] = message
        if message != self.last_error:
            log.warning("refused: %s (keeping the current weights)", message)
        self.last_error = message
        return None

    def swapped(self, old: Loaded | None, new: Loaded) -> None:
        """The loop reports a swap; one log line per reload."""
        if old is not None:  # the first checkpoint is a start, not a reload
            self.reloads += 1
        self.last_reload_time = time.time()
        self.last_error = None
        old_name = old.path.name if old else "nothing"
        log.info("reload %s -> %s (epoch %s, load %.0f ms)", old_name, new.path.name, new.epoch, new.load_ms)

    # --- filesystem events ----------------------------------------------------------------------
    def _watch(self, experiment) -> None:
        if not self.watch_events:
            return
        dirs = []
        if experiment is not None:
            nn = Path(experiment) / "nn"
            dirs.append(nn if nn.is_dir() else Path(experiment))
        if self.follow_latest and self.spec in LATEST_SPECS and self.runs_dir.is_dir():
            dirs.append(self.runs_dir)  # latest_* links are replaced by a rename here
        wanted = tuple(str(d) for d in dirs)
        if wanted == self._watched:
            return
        self._unwatch()
        observer = Observer()
        handler = _Wake(self)
        for d in wanted:
            observer.schedule(handler, d, recursive=False)
        observer.daemon = True
        observer.start()
        self._observer, self._watched = observer, wanted

    def _unwatch(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
        self._observer, self._watched = None, ()

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

What operators chart (the status carries it to the streamer's /metrics): reloads by result — `reloads`
(swapped in), `refused` (file versions that failed to load or validate), `skipped` (periodic checkpoints a
swap passed over: they landed while the current one was held, by the reload interval or a seeded
evaluation) — and `latency`, a histogram of the seconds from a checkpoint landing to its weights acting.
A hold the tester was told to keep is not latency: the clock starts when the checkpoint landed or when
the hold ended (the interval ran out, the user asked, the evaluation under way finished), whichever is later.
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

from services.core.archive import archive_dir
from services.core.checkpoints import (
    LATEST_SPECS,
    CheckpointError,
    ResolveError,
    check_compatible,
    epoch_of,
    inside,
    is_checkpoint_name,
    list_checkpoints,
    load_checkpoint,
    resolve,
)
from services.core.retention import removal_of

log = logging.getLogger("tester.reload")
# Reload latency buckets (s): ~40 ms with filesystem events, up to a poll interval without (bench/reload_latency.py).
LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
WAITING_POLL_S = 1.0  # how often to look while nothing is loaded yet, whatever the interval
BURST_S, BURST_POLL_S = 1.0, 0.02  # after a filesystem event: look every 20 ms for 1 s


def file_key(path: Path) -> tuple | None:
    """Identity of one version of a file: a rewrite (same name, new bytes) is a new version."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_mtime_ns, st.st_size)


class LatencyHistogram:
    """Seconds from a checkpoint landing to its weights acting, in Prometheus' cumulative buckets."""

    def __init__(self, buckets=LATENCY_BUCKETS_S):
        self.le = tuple(buckets)
        self.counts = [0] * len(self.le)  # per bucket (not cumulative); the +Inf bucket is `count`
        self.sum, self.count = 0.0, 0

    def observe(self, seconds: float) -> None:
        seconds = max(0.0, float(seconds))  # clocks of another host (a synced run) may run ahead
        self.sum += seconds
        self.count += 1
        for i, bound in enumerate(self.le):
            if seconds <= bound:
                self.counts[i] += 1
                break

    def snapshot(self) -> dict:
        """`{"le": [...], "counts": [cumulative, ...], "sum", "count"}` (JSON: +Inf is `count`)."""
        cumulative, running = [], 0
        for n in self.counts:
            running += n
            cumulative.append(running)
        return {"le": list(self.le), "counts": cumulative, "sum": round(self.sum, 6), "count": self.count}


def passed_over(old: Loaded | None, new: Loaded) -> list[int]:
    """Epochs of the run's periodic checkpoints between two swapped-in ones (same run, both with epochs)."""
    if old is None or new.experiment is None or new.experiment != old.experiment or None in (old.epoch, new.epoch):
        return []
    epochs = (epoch_of(p) for p in list_checkpoints(new.experiment))
    return sorted({e for e in epochs if e is not None and old.epoch < e < new.epoch})


def _wall(monotonic_t: float) -> float:
    return time.time() - (time.monotonic() - monotonic_t)


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
    kit: object = None  # taskkit.TaskKit its network fits: the loop adopts it when it is not its own
    landed_at: float = 0.0  # Unix time it landed, or its hold ended if later (the reload latency's start)


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

    `kit` (taskkit.TaskKit, or anything with a `.builder`) gives the network: `builder.from_state(state)`
    builds a fresh one (raises on mismatch), `builder.reference` is the state dict whose keys/shapes every
    checkpoint must have. `retask(experiment, kit) -> kit`, when given (a tester following `latest`), is
    asked for the kit of each experiment the spec moves to, and may build one for another task.
    """

    def __init__(
        self,
        spec: str,
        runs_dir,
        kit,
        interval: float = 30.0,
        follow_latest: bool = True,
        watch_events: bool = True,
        retask: Callable | None = None,
        experiment: Path | None = None,
    ):
        """`experiment`: the run `spec` named at start (the tester's kit is built for its task), if any."""
        self.spec, self.runs_dir = str(spec), Path(runs_dir)
        self.kit, self.retask = kit, retask
        self.interval, self.follow_latest, self.watch_events = float(interval), follow_latest, watch_events
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.mailbox: Loaded | None = None
        self.failed: dict[tuple, str] = {}  # file version -> error line; retried when the version changes
        self.current_key: tuple | None = None  # what the loop runs (or what is waiting in the mailbox)
        self.pinned: Path | None = None
        self.experiment: Path | None = experiment  # the experiment watched now
        self.reloads = 0
        self.refused = 0  # file versions refused (each is retried only once it changes)
        self.skipped = 0  # periodic checkpoints swaps passed over (passed_over)
        self.latency = LatencyHistogram()
        self.looks = 0  # completed looks for a new checkpoint (tests wait on it)
        self.loaded_at: float | None = None  # monotonic time the current checkpoint was loaded
        self.last_reload_time: float | None = None
        self.last_error: str | None = None
        self.note: str | None = None  # said in the status after a swap (a fallback from a refused newest file)
        self._force = False
        self._asked_at = 0.0  # Unix time of the user's last reload/pin/unpin
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
        self._asked_at = time.time()
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
        """Run exactly this file (inside the runs root or its archive) until unpin(); ValueError (with the
        reason) when refused: outside the root, not a checkpoint, removed by retention, or a file that does not
        load into this network."""
        checkpoint = str(checkpoint)
        shown = checkpoint if len(checkpoint) <= 120 else checkpoint[:117] + "..."
        try:
            path = inside(self.runs_dir, checkpoint)
        except ValueError as refused:
            try:  # an experiment followed in runs_all/ lists its checkpoints there
                path = inside(archive_dir(self.runs_dir), checkpoint)
            except ValueError:
                raise refused from None
        try:
            is_file = path.is_file()
        except OSError as e:  # e.g. a name too long for the filesystem
            raise ValueError(f"{shown}: {e.strerror}") from None
        if not is_file and path.parent.name == "nn" and is_checkpoint_name(path.name):
            removal = removal_of(path.parent.parent, path.name)
            if removal is not None:
                when = time.strftime("%H:%M:%S", time.localtime(removal.get("removed_at") or 0))
                raise ValueError(
                    f"{shown}: removed at {when} by the trainer's checkpoint retention (train.keep); "
                    "GET /checkpoints lists the ones kept"
                )
        if not is_file or not is_checkpoint_name(path.name):
            raise ValueError(f"{shown}: not a checkpoint file (.pth) in the runs root")
        key = file_key(path)
        reason = self.failed.get(key)
        if reason is None:
            try:  # loaded here once, so a refusal is the answer and not a status line later
                self._build(path)
            except Exception as e:
                reason = str(e) if isinstance(e, CheckpointError) else f"{type(e).__name__}: {e}"
                self.failed[key] = reason
        if reason is not None:
            raise ValueError(f"{shown}: cannot be pinned: {reason}")
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
        return BURST_POLL_S if burst else max(self.interval, BURST_POLL_S)  # never a spin

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
            if key is None or key == self.current_key:
                return None
            loaded = None if key in self.failed else self._load(candidate, key, experiment, self._hold_ended(force))
            if loaded is None and self.current_key is None and self.pinned is None and experiment is not None:
                loaded = self._fall_back(candidate, experiment)
            return loaded
        finally:
            self.looks += 1

    def _fall_back(self, refused: Path, experiment) -> Loaded | None:
        """Nothing runs yet and the newest file is refused: the newest older one that loads, said once."""
        for older in reversed(list_checkpoints(experiment)):
            key = file_key(older)
            if older == refused or key is None or key in self.failed:
                continue
            loaded = self._load(older, key, experiment)
            if loaded is not None:
                why = self.failed.get(file_key(refused))
                self.note = f"newest {refused.name} refused ({why}): playing {older.name}"
                log.warning("%s, the newest checkpoint that loads", self.note)
                return loaded
        return None

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
        if res.experiment != self.experiment and self.retask is not None:
            self.kit = self.retask(res.experiment, self.kit)  # its task's worlds and network, if not ours
        self.experiment = res.experiment
        return res.checkpoint, res.experiment

    def _hold_ended(self, forced: bool) -> float:
        """Unix time from which this look was allowed: the user's request, or the end of the interval."""
        if forced:
            return self._asked_at
        if self.loaded_at is None or self.current_key is None:
            return 0.0
        return _wall(self.loaded_at + self.interval)

    def _build(self, path: Path):
        """(state, model, kit) of a checkpoint file; CheckpointError or the network's own error when refused."""
        state = load_checkpoint(path)
        kit = self.kit
        check_compatible(state["model"], kit.builder.reference, path)
        return state, kit.builder.from_state(state["model"]), kit

    def _load(self, path: Path, key: tuple, experiment, hold_ended: float = 0.0) -> Loaded | None:
        t0 = time.perf_counter()
        try:
            state, model, kit = self._build(path)
        except CheckpointError as e:
            if e.kind == "missing":  # removed (checkpoint retention) between listing and loading: look again
                log.debug("%s went before it was loaded; looking again", path.name)
                self._force = True
                return None
            return self._fail(key, str(e))
        except Exception as e:  # e.g. load_state_dict dtype trouble: refuse the file, keep running
            return self._fail(key, f"incompatible checkpoint {path.name}: {type(e).__name__}: {e}")
        epoch = state.get("epoch") if isinstance(state.get("epoch"), int) else epoch_of(path)
        frame = state.get("frame") if isinstance(state.get("frame"), int) else None
        loaded = Loaded(
            path,
            key,
            epoch,
            model,
            (time.perf_counter() - t0) * 1000,
            experiment,
            frame=frame,
            kit=kit,
            landed_at=max(key[1] / 1e9, hold_ended),  # key[1]: mtime (ns), i.e. when it was renamed into place
        )
        with self.lock:
            self.mailbox = loaded
            self.current_key = key
            self.loaded_at = loaded.ready_at
        return loaded

    def _fail(self, key, message: str) -> None:
        if key is not None:
            self.refused += key not in self.failed
            self.failed[key] = message
        if message != self.last_error:
            log.warning("refused: %s (keeping the current weights)", message)
        self.last_error = message
        return None

    def swapped(self, old: Loaded | None, new: Loaded, ready_since: float | None = None) -> None:
        """The loop reports a swap; one log line per reload. `ready_since`: Unix time the loop became ready
        for a new checkpoint, when it had kept the old one on purpose (a seeded evaluation under way)."""
        if old is not None:  # the first checkpoint is a start, not a reload
            self.reloads += 1
            self.skipped += len(passed_over(old, new))
            self.latency.observe(time.time() - max(new.landed_at, ready_since or 0.0))
        self.last_reload_time = time.time()
        self.last_error, self.note = self.note, None
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

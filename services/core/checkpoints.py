"""Checkpoint files: atomic save, safe load, and resolution of `checkpoint=` specs.

Shared by the trainer (writer) and the tester (reader). A reader racing a writer must never see a
partial file, and a hostile file must never run code: saves go through a same-directory temporary
file + os.replace, loads use torch's weights_only unpickler.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from .archive import archive_dir

TEMP_SUFFIX = ".tmp"
LATEST_LINKS = ("latest_train", "latest_test")
LATEST_SPECS = ("latest",) + LATEST_LINKS  # checkpoint= values that follow a link (latest = latest_train)
_EPOCH_RE = re.compile(r"_ep_(\d+)")


class CheckpointError(Exception):
    """A checkpoint that cannot be used. `kind` is one of KINDS; str() is one line for logs."""

    KINDS = ("missing", "corrupt", "not_checkpoint", "refused", "incompatible")

    def __init__(self, kind: str, path, detail: str):
        assert kind in self.KINDS, kind
        self.kind, self.path, self.detail = kind, Path(path), detail
        super().__init__(f"{kind} checkpoint {Path(path).name}: {detail}")


class ResolveError(Exception):
    """`checkpoint=` names nothing usable, or names several things."""


# --- writing ------------------------------------------------------------------------------------


def is_checkpoint_name(name: str) -> bool:
    """Complete checkpoints only: temp files (ours and rsync's) are dot-prefixed."""
    return name.endswith(".pth") and not name.startswith(".")


def save_atomic(state: dict, path) -> Path:
    """torch.save to `.<name>.<random>.tmp` beside `path`, fsync, then rename into place.

    On failure the temp file is removed and whatever `path` held before is untouched. A failed write
    (disk full, quota, I/O error) raises the OSError naming `path`: torch wraps it in a RuntimeError
    that only says "unexpected pos 768 vs 662".
    """
    import torch  # here, not at the top: sync and the stack list and resolve checkpoints without torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        cause = os_error_in(e)
        if cause is not None and cause.filename is None:
            raise OSError(cause.errno, cause.strerror, str(path)) from e
        raise
    _fsync_dir(path.parent)
    return path


def os_error_in(exc: BaseException | None) -> OSError | None:
    """The OSError behind `exc` (itself, or along its __cause__/__context__ chain), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable: a crash right after save leaves old or new, never nothing.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- reading ------------------------------------------------------------------------------------


def _numpy_safe_globals() -> list:
    """The numpy types rl_games checkpoints really contain (`last_mean_rewards` is a numpy scalar)."""
    import numpy as np

    allowed = [np.dtype, np.ndarray]
    core = getattr(np, "_core", None) or np.core
    allowed.append(core.multiarray.scalar)
    allowed.append(core.multiarray._reconstruct)
    for name in ("Float32DType", "Float64DType", "Int64DType", "Int32DType", "BoolDType"):
        if hasattr(np.dtypes, name):
            allowed.append(getattr(np.dtypes, name))
    return allowed


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load an rl_games checkpoint with weights_only=True, or raise one precise CheckpointError."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError("missing", path, "no such file")
    if path.stat().st_size == 0:
        raise CheckpointError("corrupt", path, "empty file (0 bytes)")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # zip/pickle/EOF errors all mean the bytes are not a whole checkpoint
        if _is_refusal(e):
            raise CheckpointError("refused", path, f"unsafe content refused ({_refused_global(e)})") from e
        raise CheckpointError("corrupt", path, f"truncated or not a torch file ({_reason(e)})") from e
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError("not_checkpoint", path, "not an rl_games checkpoint (no 'model' state dict)")
    bad = [k for k, v in state["model"].items() if not torch.is_tensor(v)]
    if bad:
        raise CheckpointError("not_checkpoint", path, f"'model' holds non-tensors: {', '.join(bad[:3])}")
    return state


_REFUSED_RE = re.compile(r"unsupported GLOBAL [\w.]+[^\n]*|Unsupported global: GLOBAL [\w.]+|Unsupported class [\w.]+")


def _is_refusal(e: BaseException) -> bool:
    """torch's weights_only unpickler met a global (code) it does not allow.

    Random bytes fail in the same unpickler with 'Unsupported operand': that is corruption, not an attack.
    """
    return "Weights only load failed" in str(e) and _REFUSED_RE.search(str(e)) is not None


def _refused_global(e: BaseException) -> str:
    return _REFUSED_RE.search(str(e)).group(0).strip().rstrip(".")


def _reason(e: BaseException) -> str:
    m = re.search(r"WeightsUnpickler error:\s*(.+)", str(e))
    text = m.group(1) if m else (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {text.strip()[:160]}"


def check_compatible(model_state: dict, reference: dict, path="checkpoint") -> None:
    """Raise 'incompatible' unless `model_state` has exactly the keys and shapes of `reference`."""
    missing = sorted(set(reference) - set(model_state))
    extra = sorted(set(model_state) - set(reference))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:3]}")
        if extra:
            parts.append(f"unexpected keys {extra[:3]}")
        raise CheckpointError("incompatible", path, "; ".join(parts))
    for key, ref in reference.items():
        if tuple(model_state[key].shape) != tuple(ref.shape):
            raise CheckpointError(
                "incompatible",
                path,
                f"{key} has shape {tuple(model_state[key].shape)}, the policy needs {tuple(ref.shape)}",
            )


def epoch_of(path) -> int | None:
    """Epoch from an rl_games file name (`last_Reach_ep_40_rew_12.3.pth`), or None (best file)."""
    m = _EPOCH_RE.search(Path(path).name)
    return int(m.group(1)) if m else None


# --- finding ------------------------------------------------------------------------------------


def list_checkpoints(experiment) -> list[Path]:
    """Checkpoint files of an experiment (or of an `nn/` dir), oldest first.

    An empty file is listed: loading it refuses it with a reason a user can read (a file still being
    copied in place changes, and is then tried again). A symlink counts only when it leads to a file
    inside the directory that holds the experiment (the runs root); a dangling or looping link, or one
    leaving that root, is skipped, so one bad entry never hides the good checkpoints beside it.
    """
    experiment = Path(experiment)
    nn = experiment / "nn" if (experiment / "nn").is_dir() else experiment
    root = (nn.parent if nn.name == "nn" else nn).parent
    found = []
    try:
        entries = list(os.scandir(nn))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        if not is_checkpoint_name(entry.name):
            continue
        try:
            if entry.is_symlink() and not _within(os.path.realpath(entry.path, strict=True), root):
                continue
            st = entry.stat()
        except OSError:  # replaced or deleted while we looked; a dangling or looping link
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((st.st_mtime_ns, entry.name, Path(entry.path)))
    return [p for _, _, p in sorted(found)]


def _within(target: str, root: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([target, real_root]) == real_root


def newest_checkpoint(experiment) -> Path | None:
    found = list_checkpoints(experiment)
    return found[-1] if found else None


def list_experiments(runs_dir) -> list[Path]:
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))


def resolve_latest(runs_dir, link: str = "latest_train") -> Path:
    """The experiment a `latest_*` link points at (links are relative to runs_dir)."""
    runs_dir = Path(runs_dir)
    target = runs_dir / link
    if not target.is_symlink() and not target.is_dir():
        found = ", ".join(p.name for p in list_experiments(runs_dir)) or "nothing"
        raise ResolveError(f"checkpoint={link}: {runs_dir}/{link} does not exist (found: {found})")
    resolved = target.resolve()
    if not resolved.is_dir():
        raise ResolveError(
            f"checkpoint={link}: {runs_dir}/{link} points at a missing experiment "
            f"({os.readlink(target) if target.is_symlink() else resolved})"
        )
    return resolved


@dataclass(frozen=True)
class Resolution:
    """What `checkpoint=` means now: an experiment to watch and/or a file to load."""

    experiment: Path | None  # None for a lone .pth outside any experiment
    checkpoint: Path | None  # None while the experiment has no checkpoint yet
    follows: str | None = None  # the latest_* link this resolution follows, if any


def resolve(spec: str, runs_dir) -> Resolution:
    """Resolve a `checkpoint=` value. Pure: call it again to see what is newest now."""
    runs_dir = Path(runs_dir)
    spec = str(spec).strip()
    if not spec:
        raise ResolveError(
            "checkpoint=: empty value (use latest, latest_train, latest_test, "
            "an experiment directory, a .pth file or part of an experiment name)"
        )
    if spec in LATEST_SPECS:
        link = "latest_train" if spec == "latest" else spec
        exp = resolve_latest(runs_dir, link)
        return Resolution(exp, newest_checkpoint(exp), follows=link)
    path = Path(spec).expanduser()
    candidates = [path] if path.is_absolute() else [path, runs_dir / path, archive_dir(runs_dir) / path]
    for p in candidates:
        if p.is_file():
            if not p.name.endswith(".pth"):
                raise ResolveError(f"checkpoint={spec}: not a .pth file")
            exp = p.parent.parent if p.parent.name == "nn" else None
            return Resolution(exp.resolve() if exp else None, p.resolve())
        if p.is_dir():
            exp = p.resolve()
            return Resolution(exp, newest_checkpoint(exp))
    # runs/ first: a name part that matches there means the experiment a user sees, not an archived one
    matches = [e for e in list_experiments(runs_dir) if spec in e.name]
    if not matches:
        matches = [e for e in list_experiments(archive_dir(runs_dir)) if spec in e.name]
    if len(matches) == 1:
        return Resolution(matches[0].resolve(), newest_checkpoint(matches[0]))
    found = ", ".join(e.name for e in list_experiments(runs_dir)) or "no experiments"
    archived = len(list_experiments(archive_dir(runs_dir)))
    if archived:
        found += f"; {archived} more in {archive_dir(runs_dir).name}/"
    if not matches:
        raise ResolveError(f"checkpoint={spec}: no file, directory or experiment matches (in {runs_dir}: {found})")
    raise ResolveError(
        f"checkpoint={spec}: ambiguous, matches {len(matches)} experiments: " + ", ".join(e.name for e in matches)
    )


def inside(root, path) -> Path:
    """`path` (relative to root or absolute) resolved, if it stays inside `root`; else ValueError.

    Symlinks are resolved first, so a link that leaves the runs root is refused like `../`, and a
    link that loops is refused too (Path.resolve raises RuntimeError for it up to Python 3.12).
    """
    root = Path(root).resolve()
    p = Path(path)
    try:
        resolved = (p if p.is_absolute() else root / p).resolve()
    except RuntimeError:
        raise ValueError(f"{path}: a symlink that loops") from None
    except OSError as e:
        raise ValueError(f"{path}: {'a symlink that loops' if e.errno == errno.ELOOP else e.strerror}") from None
    if resolved != root and root not in resolved.parents:
        raise ValueError(f"{path} is outside the runs root")  # the root's own path is not the caller's business
    return resolved

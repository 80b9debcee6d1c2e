"""Checkpoint I/O and `checkpoint=` resolution, as the trainer and tester rely on them."""

import os
import shutil
import threading
import time

import numpy as np
import pytest
import torch

from services.core import checkpoints as ck
from services.core.experiments import create_experiment, update_latest_link


def rl_games_state(value: float = 0.0, epoch: int = 1, width: int = 8) -> dict:
    """The shape of what rl_games saves: model state (with normalizer stats) and bookkeeping."""
    model = {
        "a2c_network.actor_mlp.0.weight": torch.full((width, 4), value),
        "a2c_network.actor_mlp.0.bias": torch.full((width,), value),
        "running_mean_std.running_mean": torch.zeros(4),
        "running_mean_std.count": torch.tensor(1.0),
    }
    return {
        "model": model,
        "epoch": epoch,
        "frame": epoch * 100,
        "optimizer": {},
        "last_mean_rewards": np.float32(value),
        "env_state": None,
    }


def make_experiment(runs_dir, name, checkpoints=()):
    exp = runs_dir / name
    (exp / "nn").mkdir(parents=True)
    for i, cp in enumerate(checkpoints):
        ck.save_atomic(rl_games_state(epoch=i), exp / "nn" / cp)
        os.utime(exp / "nn" / cp, ns=(10**18 + i * 10**9, 10**18 + i * 10**9))  # distinct, ordered mtimes
    return exp


# --- resolution ---------------------------------------------------------------------------------


def test_every_checkpoint_form_resolves(runs_dir, monkeypatch):
    a = make_experiment(
        runs_dir, "Reach_train_20260101_000000", ["last_Reach_ep_10_rew_1.pth", "last_Reach_ep_20_rew_2.pth"]
    )
    b = make_experiment(runs_dir, "Reach_test_20260102_000000", ["Reach.pth"])
    update_latest_link(runs_dir, a, "train")
    update_latest_link(runs_dir, b, "test")
    newest_a = a / "nn" / "last_Reach_ep_20_rew_2.pth"

    for spec in ("latest", "latest_train"):
        r = ck.resolve(spec, runs_dir)
        assert (r.experiment, r.checkpoint, r.follows) == (a, newest_a, "latest_train")
    assert ck.resolve("latest_test", runs_dir).checkpoint == b / "nn" / "Reach.pth"
    assert ck.resolve(str(a), runs_dir).checkpoint == newest_a  # absolute dir
    assert ck.resolve(a.name, runs_dir).checkpoint == newest_a  # dir under runs/
    monkeypatch.chdir(runs_dir.parent)
    assert ck.resolve(f"runs/{a.name}", runs_dir).checkpoint == newest_a  # relative to cwd
    one = a / "nn" / "last_Reach_ep_10_rew_1.pth"
    r = ck.resolve(str(one), runs_dir)
    assert (r.experiment, r.checkpoint, r.follows) == (a, one, None)  # a file pins it
    assert ck.resolve("0101", runs_dir).experiment == a  # unique substring
    assert ck.epoch_of(newest_a) == 20 and ck.epoch_of(b / "nn" / "Reach.pth") is None


def test_ambiguous_and_missing_specs_list_what_was_found(runs_dir):
    make_experiment(runs_dir, "Reach_train_20260101_000000")
    make_experiment(runs_dir, "Reach_train_20260102_000000")
    with pytest.raises(ck.ResolveError, match="ambiguous.*Reach_train_20260101_000000.*Reach_train_20260102_000000"):
        ck.resolve("Reach_train", runs_dir)
    with pytest.raises(ck.ResolveError, match="no file, directory or experiment matches.*Reach_train_20260101_000000"):
        ck.resolve("BlindGrasping", runs_dir)
    with pytest.raises(ck.ResolveError, match="latest_train does not exist"):
        ck.resolve("latest", runs_dir)
    with pytest.raises(ck.ResolveError, match="not a .pth"):
        (runs_dir / "notes.txt").write_text("x")
        ck.resolve(str(runs_dir / "notes.txt"), runs_dir)


def test_temporary_files_never_count_and_an_empty_one_is_refused_by_name(runs_dir):
    exp = make_experiment(runs_dir, "Reach_train_20260101_000000", ["last_Reach_ep_5_rew_1.pth"])
    nn = exp / "nn"
    (nn / ".last_Reach_ep_9_rew_3.pth.1a2b3c4d.tmp").write_bytes(b"partial")  # ours, mid-write
    (nn / ".last_Reach_ep_9_rew_3.pth.Xy12Ab").write_bytes(b"partial")  # rsync's, mid-transfer
    assert ck.list_checkpoints(exp) == [nn / "last_Reach_ep_5_rew_1.pth"]
    assert ck.resolve(str(exp), runs_dir).checkpoint == nn / "last_Reach_ep_5_rew_1.pth"
    # an empty file is a checkpoint that cannot be used: it is listed, and loading it says why
    empty = nn / "last_Reach_ep_8_rew_2.pth"
    empty.write_bytes(b"")
    assert ck.list_checkpoints(exp) == [nn / "last_Reach_ep_5_rew_1.pth", empty]
    with pytest.raises(ck.CheckpointError) as err:
        ck.load_checkpoint(ck.newest_checkpoint(exp))
    assert str(err.value) == "corrupt checkpoint last_Reach_ep_8_rew_2.pth: empty file (0 bytes)"


def test_bad_symlinks_are_skipped_and_good_checkpoints_still_listed(runs_dir, tmp_path):
    exp = make_experiment(runs_dir, "Reach_train_20260101_000000", ["last_Reach_ep_5_rew_1.pth"])
    other = make_experiment(runs_dir, "Reach_train_20260102_000000", ["last_Reach_ep_7_rew_1.pth"])
    nn = exp / "nn"
    os.symlink("loop.pth", nn / "loop.pth")  # a.pth -> a.pth
    os.symlink("ping.pth", nn / "pong.pth")
    os.symlink("pong.pth", nn / "ping.pth")  # a -> b -> a
    os.symlink("gone.pth", nn / "dangling.pth")
    ck.save_atomic(rl_games_state(), tmp_path / "outside.pth")
    os.symlink(tmp_path / "outside.pth", nn / "escape.pth")  # leaves the runs root
    os.symlink(f"../../{other.name}/nn/last_Reach_ep_7_rew_1.pth", nn / "shared.pth")  # stays inside
    os.utime(nn / "shared.pth", ns=(10**18 + 10**10, 10**18 + 10**10), follow_symlinks=True)
    assert ck.list_checkpoints(exp) == [nn / "last_Reach_ep_5_rew_1.pth", nn / "shared.pth"]
    assert ck.resolve(exp.name, runs_dir).checkpoint == nn / "shared.pth"
    for bad in ("loop.pth", "ping.pth"):
        with pytest.raises(ValueError, match="symlink that loops"):
            ck.inside(runs_dir, f"{exp.name}/nn/{bad}")


def test_experiment_without_checkpoints_resolves_to_none(runs_dir):
    exp = create_experiment(runs_dir, "Reach", "train")
    r = ck.resolve("latest", runs_dir)
    assert r.experiment == exp.resolve() and r.checkpoint is None


# --- latest links ---------------------------------------------------------------------------------


def test_latest_link_is_relative_and_survives_a_move(runs_dir, tmp_path):
    exp = create_experiment(runs_dir, "Reach", "train")
    assert os.readlink(runs_dir / "latest_train") == exp.name
    moved = tmp_path / "elsewhere" / "runs"
    shutil.copytree(runs_dir, moved, symlinks=True)
    assert ck.resolve_latest(moved) == (moved / exp.name).resolve()


def test_latest_link_replacement_never_breaks_concurrent_readers(runs_dir):
    a = make_experiment(runs_dir, "Reach_train_20260101_000000")
    b = make_experiment(runs_dir, "Reach_train_20260102_000000")
    update_latest_link(runs_dir, a, "train")
    stop, seen, errors = threading.Event(), set(), []

    def read():
        while not stop.is_set():
            try:
                seen.add(ck.resolve_latest(runs_dir).name)
            except Exception as e:  # a missing or dangling link would land here
                errors.append(e)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    for i in range(2000):
        update_latest_link(runs_dir, (a, b)[i % 2], "train")
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert seen == {a.name, b.name}
    assert not [p for p in os.listdir(runs_dir) if p.endswith(".tmp")]


# --- atomic save / safe load ------------------------------------------------------------------


def test_reader_hammering_a_writer_never_sees_a_partial_checkpoint(tmp_path):
    path = tmp_path / "nn" / "Reach.pth"
    ck.save_atomic(rl_games_state(0.0, width=256), path)
    stop, loads, errors = threading.Event(), [], []

    def hammer():
        while not stop.is_set():
            try:
                state = ck.load_checkpoint(path)
                w = state["model"]["a2c_network.actor_mlp.0.weight"]
                # Every tensor of one save holds one value: a mix would mean a torn read.
                assert torch.all(w == w.flatten()[0]) and float(state["last_mean_rewards"]) == float(w.flatten()[0])
                loads.append(float(w.flatten()[0]))
            except Exception as e:
                errors.append(e)

    reader = threading.Thread(target=hammer)
    reader.start()
    for i in range(1, 150):
        ck.save_atomic(rl_games_state(float(i), epoch=i, width=256), path)
    time.sleep(0.05)
    stop.set()
    reader.join()
    assert errors == []
    assert len(loads) > 10 and len(set(loads)) > 2  # the reader really raced many different saves
    assert sorted(os.listdir(path.parent)) == ["Reach.pth"]  # no temp files left behind


def test_real_rl_games_bookkeeping_loads_with_weights_only(tmp_path):
    path = ck.save_atomic(rl_games_state(1.5, epoch=7), tmp_path / "last_Reach_ep_7_rew_1.5.pth")
    state = ck.load_checkpoint(path)
    assert state["epoch"] == 7 and float(state["last_mean_rewards"]) == 1.5


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_hostile_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    torch.save({"model": {}, "payload": _Exploit()}, path)
    with pytest.raises(ck.CheckpointError) as err:
        ck.load_checkpoint(path)
    assert err.value.kind == "refused" and "system" in str(err.value)
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "damage, kind",
    [
        ("truncate", "corrupt"),
        ("empty", "corrupt"),
        ("random", "corrupt"),
        ("tensor", "not_checkpoint"),
        ("missing", "missing"),
    ],
)
def test_damaged_files_get_one_precise_error(tmp_path, damage, kind):
    path = tmp_path / "last_Reach_ep_3_rew_1.pth"
    ck.save_atomic(rl_games_state(1.0, width=64), path)
    if damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif damage == "tensor":
        torch.save(torch.zeros(3), path)
    elif damage == "missing":
        path.unlink()
    with pytest.raises(ck.CheckpointError) as err:
        ck.load_checkpoint(path)
    assert err.value.kind == kind
    assert path.name in str(err.value) and "\n" not in str(err.value)


def test_a_save_on_a_full_disk_names_the_file_and_keeps_the_previous_one(small_disk):
    from tests.disk import fill_up

    nn = small_disk("2m") / "nn"
    best = ck.save_atomic(rl_games_state(1.0, width=64), nn / "Reach.pth")
    before = best.read_bytes()
    filler = fill_up(nn.parent)
    with pytest.raises(OSError) as err:
        ck.save_atomic(rl_games_state(2.0, width=4096), best)  # ~130 KB: cannot fit
    assert err.value.errno == 28 and err.value.filename == str(best)
    assert "No space left on device" in str(err.value)
    assert best.read_bytes() == before and ck.load_checkpoint(best)["epoch"] == 1
    assert sorted(p.name for p in nn.iterdir()) == ["Reach.pth"]  # no temp file left behind
    filler.unlink()  # space is back: the next save works
    ck.save_atomic(rl_games_state(2.0, width=4096), best)
    assert ck.load_checkpoint(best)["model"]["a2c_network.actor_mlp.0.bias"].shape == (4096,)


def test_incompatible_shapes_and_keys_are_named():
    ref = rl_games_state(width=8)["model"]
    with pytest.raises(ck.CheckpointError, match=r"actor_mlp.0.weight has shape \(16, 4\), the policy needs \(8, 4\)"):
        ck.check_compatible(rl_games_state(width=16)["model"], ref)
    fewer = dict(ref)
    fewer.pop("running_mean_std.count")
    with pytest.raises(ck.CheckpointError, match="missing keys.*running_mean_std.count"):
        ck.check_compatible(fewer, ref)
    ck.check_compatible(rl_games_state(width=8, value=3.0)["model"], ref)  # same layout: fine


def test_inside_refuses_traversal_and_escaping_symlinks(runs_dir, tmp_path):
    exp = make_experiment(runs_dir, "Reach_train_20260101_000000", ["Reach.pth"])
    assert ck.inside(runs_dir, f"{exp.name}/nn/Reach.pth") == (exp / "nn" / "Reach.pth").resolve()
    with pytest.raises(ValueError, match="outside the runs root"):
        ck.inside(runs_dir, "../../etc/passwd")
    (tmp_path / "secret.pth").write_bytes(b"x")
    os.symlink(tmp_path / "secret.pth", exp / "nn" / "escape.pth")
    with pytest.raises(ValueError, match="outside the runs root"):
        ck.inside(runs_dir, exp / "nn" / "escape.pth")

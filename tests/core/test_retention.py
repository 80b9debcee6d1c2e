"""Checkpoint retention as a long run sees it: what stays after thousands of saves, and what a short run
keeps (everything). Pure planning over listings; the trainer test applies it to real files."""

from services.core.retention import GB, Checkpoint, Policy, plan

MB = 1024**2


def periodic(epoch, t, size=2 * MB):
    return Checkpoint(f"last_Task_ep_{epoch}_rew_1.00.pth", epoch, t, size)


def train(epochs, every, seconds_per_epoch, policy, size=2 * MB, best=True):
    """Save every `every` epochs and apply the plan after each save, as the trainer does. Returns what
    stays and the largest total size seen after any save."""
    files = [Checkpoint("Task.pth", None, 0.0, size)] if best else []
    peak = 0
    for epoch in range(every, epochs + 1, every):
        now = epoch * seconds_per_epoch
        files.append(periodic(epoch, now, size))
        p = plan(files, policy, now)
        gone = {c.name for c in p.remove}
        files = [c for c in files if c.name not in gone]
        peak = max(peak, sum(c.size for c in files))
    return files, peak


def epochs_of(files):
    return sorted(c.epoch for c in files if c.epoch is not None)


def test_a_day_of_saves_keeps_best_newest_recent_window_and_a_spread_history_within_budget():
    # a day at ~0.9 s an epoch, a checkpoint every 10 epochs (9 s): ~9,600 saves of 2 MB = 19 GB unthinned
    policy = Policy(newest=5, recent_s=600, history=100, budget_bytes=1 * GB)
    files, peak = train(96_000, 10, 0.9, policy)
    kept = epochs_of(files)
    assert "Task.pth" in {c.name for c in files}  # the best, always
    assert kept[-5:] == [95_960, 95_970, 95_980, 95_990, 96_000]  # the newest
    window = [e for e in range(10, 96_001, 10) if e * 0.9 >= 96_000 * 0.9 - 600]
    assert set(window) <= set(kept)  # every checkpoint of the last 10 minutes
    assert kept[0] == 10  # the run's first
    assert peak <= 1 * GB  # never over the budget, after any save
    history = [e for e in kept if e not in window]
    assert len(history) <= 100
    # spread over the whole run, denser towards the present: every tenth of the run has some
    tenths = [sum(1 for e in history if i * 9600 <= e < (i + 1) * 9600) for i in range(10)]
    assert all(n >= 1 for n in tenths), tenths
    assert tenths[-1] > tenths[0], tenths


def test_a_short_run_loses_nothing():
    # 20 minutes of training, a save every 10 s: all within the recent window once the run is this short
    policy = Policy(newest=5, recent_s=600, history=100, budget_bytes=2 * GB)
    files, _ = train(600, 5, 1.0, policy)
    assert epochs_of(files) == list(range(5, 601, 5))


def test_over_budget_window_and_history_thin_together_still_spanning_the_run():
    policy = Policy(newest=3, recent_s=600, history=50, budget_bytes=100 * MB)
    # 10 MB files, a save a second: the 10-minute window alone would be 6 GB
    files, peak = train(2000, 1, 1.0, policy, size=10 * MB)
    kept = epochs_of(files)
    assert kept[-3:] == [1998, 1999, 2000] and "Task.pth" in {c.name for c in files}
    assert sum(c.size for c in files) <= 100 * MB and peak <= 100 * MB
    assert len(kept) == 9 and kept[0] == 1  # 6 spread over the run, its first among them
    assert sum(1 for e in kept if e < 1000) >= 2  # not all crowded at the end
    # over budget with only the best and the newest: they stay, and the plan says so
    p = plan([Checkpoint("Task.pth", None, 0, 30 * MB), periodic(1, 0, 30 * MB)], Policy(budget_bytes=40 * MB), 1)
    assert p.remove == [] and p.over_budget


def test_only_periodic_files_are_ever_removed():
    mine = Checkpoint("my_export.pth", None, 0.0, 1)
    win = Checkpoint("Task_ep_50_rew_99.pth", 50, 0.0, 1)  # rl_games' score_to_win file
    old = [periodic(e, 0.0, 1) for e in range(1, 30)]
    p = plan([mine, win, *old], Policy(newest=1, recent_s=0, history=2), now=10_000)
    assert mine not in p.remove and win not in p.remove
    kept = epochs_of(p.kept)
    assert kept[0] == 1 and kept[-2:] == [29, 50] and len(kept) == 4 and len(p.remove) == 26


def test_low_disk_thins_harder():
    policy = Policy(newest=5, recent_s=600, history=40)
    files, _ = train(3000, 1, 1.0, policy, size=1)
    hard = plan(files, policy.harder(), now=3000.0)
    left = [c for c in files if c not in hard.remove]
    assert len([c for c in left if c.epoch]) == 2 + 10  # the 2 newest and a quarter of the history

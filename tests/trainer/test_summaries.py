"""TensorBoard summaries of a long run: every epoch at first, fewer as the run grows (real event files)."""

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from services.trainer.summaries import ThinnedWriter


def test_scalars_thin_as_the_run_grows(tmp_path):
    epoch = [0]
    writer = ThinnedWriter(SummaryWriter(str(tmp_path)), lambda: epoch[0], full=100)
    for e in range(1000):
        epoch[0] = e
        writer.add_scalar("rewards/iter", float(e), e)
    writer.close()  # passed through to the SummaryWriter
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    acc.Reload()
    steps = [s.step for s in acc.Scalars("rewards/iter")]
    assert steps[:200] == list(range(200))  # the early curve in full
    assert steps[-1] == 992 and 300 < len(steps) < 450  # then every 2nd, 4th, 8th epoch: 200+100+100+50+...
    gaps = [b - a for a, b in zip(steps, steps[1:])]
    assert gaps == sorted(gaps) and max(gaps) == 8

"""Code inside the tester that needs frames (a clip recorder) counts as a reader: `tester.readers.hold()`."""

import threading

from services.tester import build
from tests.tester.helpers import config_for, play_then_close_env, wait_for


class QuietStreamer:
    """A publisher whose streamer answers every push with "nobody reads you"."""

    def __init__(self):
        self.frames, self.statuses, self.on_reply = [], [], None

    def publish_frame(self, jpeg):
        self.frames.append(jpeg)
        self.on_reply({"readers": 0})

    def publish_status(self, status):
        self.statuses.append(status)
        self.on_reply({"readers": 0})


def test_a_local_reader_makes_frames_with_or_without_a_streamer(runs_dir, new_run, reach_checkpoints):
    new_run(reach_checkpoints[-1])
    for publisher in (QuietStreamer(), None):  # a streamer nobody watches; no streamer at all
        service = build(
            config_for(runs_dir, "numEnvs=1", "test.render.width=160", "test.render.height=120", "test.render.fps=50"),
            publisher=publisher,
        )
        tester, stop = service.tester, threading.Event()
        shown, clip = tester.broadcast, []
        shown.frame_listeners.append(clip.append)
        loop = threading.Thread(target=play_then_close_env, args=(tester, stop), daemon=True)
        loop.start()
        try:
            wait_for(lambda: tester.episodes >= 1, timeout=60, what="episodes played")
            made = shown.frames_published
            wait_for(lambda: tester.episodes >= 3, timeout=60, what="more episodes played")
            assert shown.frames_published <= made + 1 and not tester.status()["rendering"]
            with tester.readers.hold("clip"):
                assert tester.status()["rendering"] and tester.readers.local() == {"clip": 1}
                wait_for(lambda: shown.frames_published >= made + 10, timeout=30, what="frames for the clip")
            assert tester.readers.local() == {} and not tester.status()["rendering"]
            assert len(clip) >= 10 and all(jpeg[:2] == b"\xff\xd8" for jpeg in clip)  # the recorder got them
            if publisher:
                assert len(publisher.frames) >= 10 and publisher.statuses[-1]["readers"] in (0, 1)
        finally:
            stop.set()
            loop.join(30)
            service.reloader.stop()
            service.control.stop()
            tester.close()

"""The streamer dies (SIGKILL) under running testers and comes back on the same port: the testers keep
running, and the open dashboard's tiles come back live by themselves."""

import signal
import time

from tests.faults.helpers import argv_streamer, argv_tester, free_port, tiles_live, tiles_of, wait_for
from tests.streamer.browsing import live_pixels, until


def test_streamer_killed_and_restarted_under_running_testers(trained_runs, services, browser, tmp_path):
    from selenium.webdriver.common.by import By

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    streamer = services("streamer", argv_streamer(port), tmp_path)
    ids = ("t1", "t2")
    tester_procs = [services(i, argv_tester(trained_runs, url, i), tmp_path) for i in ids]
    before = wait_for(lambda: tiles_live(url, ids), 120, step=0.2, what="both tiles live")
    epochs = {i: before[i]["epoch"] for i in ids}

    browser.get(url + "/")
    for i in ids:
        until(browser, lambda d: d.find_elements(By.ID, f"tile-{i}"), what=f"tile {i}")
        live_pixels(browser, f"#tile-{i} img", f"tile {i} streams")

    streamer.kill(signal.SIGKILL)
    until(browser, lambda d: "unreachable" in d.find_element(By.ID, "summary").text, what="the page notices")
    time.sleep(1.0)  # testers push into the void for a moment: they must shrug it off
    restarted = services("streamer-2", argv_streamer(port), tmp_path)
    back_at = time.monotonic()
    tiles = wait_for(lambda: tiles_live(url, ids), 20, step=0.1, what="both tiles back after the restart")
    print(f"tiles back {time.monotonic() - back_at:.1f} s after the streamer restarted")

    assert all(p.alive() for p in tester_procs), [p.output()[-2000:] for p in tester_procs if not p.alive()]
    assert {i: tiles[i]["epoch"] for i in ids} == epochs  # the same checkpoints, never restarted
    # the page was not reloaded: its tiles reconnect and stream again
    for i in ids:
        until(browser, lambda d: d.find_elements(By.ID, f"tile-{i}"), what=f"tile {i} again")
        until(
            browser,
            lambda d: d.execute_script(
                "const i = document.querySelector(arguments[0]); return i.complete && i.naturalWidth > 0;",
                f"#tile-{i} img",
            ),
            what=f"tile {i} image decoded",
        )
        live_pixels(browser, f"#tile-{i} img", f"tile {i} streams again")
    assert "2 tester(s), 2 online" in browser.find_element(By.ID, "summary").text
    assert set(tiles_of(url)) == set(ids)  # the same tiles, no duplicates
    assert restarted.alive() and all(p.alive() for p in tester_procs)

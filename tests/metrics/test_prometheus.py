"""Where operators look, on real parts: a real Prometheus server (Debian's package) scraping the local runtime's
services as processes — a streamer, a sync mirroring a training run, two testers of that run — with
docs/prometheus.yml and docs/alerts.yml; `promtool test rules` firing each alert; and TensorBoard showing the
training run and each tester's evaluation as runs of their own (EventAccumulator, and `make tensorboard`'s
server).

Prometheus is a system package (scripts/install-system-deps.sh, `make setup`): without it these tests fail
rather than skip, so CI cannot pass without running them.
"""

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import requests
import yaml

from services.core.checkpoints import epoch_of, load_checkpoint
from services.core.cli import command
from services.core.experiments import read_progress, update_latest_link
from tests.faults.helpers import Service, tiles_of
from tests.processes import run
from tests.tester.helpers import land
from tests.waiting import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(420)
TESTERS = ("tester-1", "tester-2")
ALERTS = {
    "PolicycastNoNewCheckpoint",
    "PolicycastTesterOffline",
    "PolicycastScrapeFailing",
    "PolicycastReloadsRefused",
    "PolicycastSuccessFell",
    "PolicycastDiskNearlyFull",
    "PolicycastSyncFailing",
}


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"{tool} is not installed: scripts/install-system-deps.sh (make setup) installs Debian's prometheus"
        )
    return path


@pytest.fixture(scope="module")
def stack(reach_run, tmp_path_factory):
    """The local runtime's layout (runs/ -> sync -> runs-shared/ <- testers) as processes: the trainer's run is
    the session's real Reach run, its checkpoints landing as a trainer lands them; a real Prometheus scrapes
    the streamer and sync with docs/prometheus.yml (ports and intervals adapted)."""
    home = tmp_path_factory.mktemp("stack")
    runs, shared, logs = home / "runs", home / "runs-shared", home / "logs"
    logs.mkdir()
    checkpoints = sorted((reach_run / "nn").glob("last_*.pth"), key=epoch_of)
    exp = runs / reach_run.name
    (exp / "nn").mkdir(parents=True)
    for name in ("config.yaml", "progress.json"):
        shutil.copy(reach_run / name, exp)
    shutil.copytree(reach_run / "summaries", exp / "summaries")  # the training's TensorBoard run
    land(checkpoints[0], exp / "nn" / checkpoints[0].name)
    update_latest_link(runs, exp, "train")

    port, sync_port, prom_port = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    procs = [
        Service("streamer", command("streamer", "--port", port), logs),
        Service(
            "sync",
            command(
                "sync", "--source", f"{runs}/", "--dest", f"{shared}/", "--interval", 1, "--metrics-port", sync_port
            ),
            logs,
        ),
    ]
    for tester_id in TESTERS:  # what `make up` runs (services/stack), small: 2 worlds, no clips
        procs.append(
            Service(
                tester_id,
                command(
                    "tester",
                    "checkpoint=latest",
                    f"runsDir={shared}",
                    f"test.streamerUrl={url}",
                    f"test.id={tester_id}",
                    "numEnvs=2",
                    "reloadInterval=1",
                    "test.render.width=160",
                    "test.render.height=120",
                    "test.clips.enabled=false",
                ),
                logs,
            )
        )
    prometheus = None
    try:
        first, second = (epoch_of(c) for c in checkpoints[:2])
        on = lambda epoch: (
            lambda: (  # noqa: E731
                (tiles := tiles_of(url)) and all(tiles.get(t, {}).get("epoch") == epoch for t in TESTERS) and tiles
            )
        )
        wait_for(on(first), 120, step=0.5, what="both testers playing the first checkpoint")
        land(checkpoints[1], exp / "nn" / checkpoints[1].name)  # the trainer saves: sync mirrors, testers reload
        tiles = wait_for(on(second), 60, step=0.2, what="both testers reloading the second checkpoint")
        assert all(tiles[t]["reloads"] == 1 for t in TESTERS), tiles

        config = yaml.safe_load((ROOT / "docs/prometheus.yml").read_text())
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        # the documented targets are the ports both runtimes publish on 127.0.0.1
        assert jobs["policycast-streamer"]["static_configs"][0]["targets"] == ["127.0.0.1:58080"]
        assert jobs["policycast-sync"]["static_configs"][0]["targets"] == ["127.0.0.1:58090"]
        jobs["policycast-streamer"]["static_configs"][0]["targets"] = [f"127.0.0.1:{port}"]
        jobs["policycast-sync"]["static_configs"][0]["targets"] = [f"127.0.0.1:{sync_port}"]
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["rule_files"] = [str(ROOT / "docs" / r) for r in config["rule_files"]]
        (home / "prometheus.yml").write_text(yaml.safe_dump(config))
        prometheus = Service(
            "prometheus",
            [
                require("prometheus"),
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            logs,
        )
        api = f"http://127.0.0.1:{prom_port}"
        wait_for(lambda: _ok(f"{api}/-/ready"), 60, step=0.2, what="Prometheus ready")
        yield {
            "home": home,
            "experiment": exp,
            "shared": shared,
            "epochs": (first, second),
            "checkpoints": checkpoints,
            "api": api,
            "url": url,
            "procs": procs + [prometheus],
        }
    except BaseException:
        for p in procs + [prometheus] * bool(prometheus):
            print(f"--- {p.name}\n{p.output()[-3000:]}")
        raise
    finally:
        for p in [prometheus] * bool(prometheus) + procs:
            p.stop()


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.ConnectionError:
        return False


def query(api: str, promql: str) -> dict:
    """{frozenset of labels (but __name__): value} of an instant query."""
    r = requests.get(f"{api}/api/v1/query", params={"query": promql}, timeout=10)
    assert r.status_code == 200, r.text
    return {
        frozenset((k, v) for k, v in s["metric"].items() if k != "__name__"): float(s["value"][1])
        for s in r.json()["data"]["result"]
    }


def by_tester(result: dict) -> dict:
    return {dict(labels).get("tester"): value for labels, value in result.items()}


def test_prometheus_scrapes_each_testers_epoch_reloads_and_the_training_progress(stack):
    api, exp, (_, second) = stack["api"], stack["experiment"], stack["epochs"]
    progress = read_progress(exp)
    wait_for(lambda: len(query(api, "policycast_tester_checkpoint_epoch")) == 2, 30, step=0.5, what="a scrape")

    epochs = query(api, "policycast_tester_checkpoint_epoch")
    assert by_tester(epochs) == {"tester-1": second, "tester-2": second}
    assert all(dict(labels)["experiment"] == exp.name and dict(labels)["task"] == "Reach" for labels in epochs)
    steps = load_checkpoint(stack["checkpoints"][1])["frame"]
    assert by_tester(query(api, "policycast_tester_checkpoint_env_steps")) == {t: steps for t in TESTERS}
    assert by_tester(query(api, 'policycast_tester_reloads_total{result="loaded"}')) == {t: 1 for t in TESTERS}
    assert by_tester(query(api, 'policycast_tester_reloads_total{result="refused"}')) == {t: 0 for t in TESTERS}
    # the histogram is one: its quantile is a number of seconds within the buckets
    p50 = by_tester(query(api, "histogram_quantile(0.5, policycast_tester_reload_latency_seconds_bucket)"))
    assert set(p50) == set(TESTERS) and all(0 <= v <= 120 for v in p50.values()), p50
    assert by_tester(query(api, "policycast_tester_online")) == {t: 1 for t in TESTERS}

    # training progress: the run's progress.json as the testers pass it on, one series for the run
    training = {
        (dict(labels)["experiment"], dict(labels)["task"]): v
        for labels, v in query(api, "policycast_training_epoch").items()
    }
    assert training == {(exp.name, "Reach"): progress["epoch"]}
    assert list(query(api, "policycast_training_env_steps_total").values()) == [progress["env_steps"]]
    assert list(query(api, 'policycast_training_state{state="finished"}').values()) == [1]
    [age] = query(api, "policycast_training_seconds_since_checkpoint").values()
    assert 0 <= age < 600
    # sync's own endpoint, scraped beside it (its first pass may end after the testers' first scrape)
    ok_passes = lambda: list(query(api, 'policycast_sync_passes_total{result="ok"}').values())  # noqa: E731
    wait_for(lambda: ok_passes() and ok_passes()[0] >= 1, 30, step=0.5, what="a scrape of sync's passes")
    assert {dict(labels)["job"]: v for labels, v in query(api, "up").items()} == {
        "policycast-streamer": 1,
        "policycast-sync": 1,
    }
    # the alerting rules load in the real server, and none fires on a healthy stack
    rules = requests.get(f"{api}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert {r["name"] for g in rules for r in g["rules"]} == ALERTS
    assert all(r["health"] == "ok" for g in rules for r in g["rules"]), rules
    assert requests.get(f"{api}/api/v1/alerts", timeout=10).json()["data"]["alerts"] == []


def readme_panels() -> list[str]:
    """The PromQL of the README's panels (its ```promql block), comments left out."""
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("```promql\n") + len("```promql\n") :]
    return [line for line in block[: block.index("```")].splitlines() if line and not line.startswith("#")]


def test_the_readmes_panels_are_valid_promql_with_data(stack):
    """Each panel the README suggests runs on the real server; those on what this stack has return series."""
    api = stack["api"]
    wait_for(lambda: query(api, "policycast_tester_checkpoint_epoch"), 30, step=0.5, what="a scrape")
    empty = []
    for promql in readme_panels():
        r = requests.get(f"{api}/api/v1/query", params={"query": promql}, timeout=10)
        assert r.status_code == 200 and r.json()["status"] == "success", (promql, r.text)
        if not r.json()["data"]["result"]:
            empty.append(promql)
    # no 3D view, no disk figures (the trainer's progress.json has none yet), a few minutes of rates
    assert all("disk" in q or "view3d" in q or "[" in q for q in empty), empty
    lag = query(api, next(q for q in readme_panels() if "group_right" in q))
    assert sorted(dict(labels)["tester"] for labels in lag) == list(TESTERS)  # one per tester: the join holds


def test_each_tester_is_a_tensorboard_run_of_its_own_beside_the_training(stack):
    """Two testers of one run: two TensorBoard runs (`<run>/eval/tester-1`, `.../tester-2`) next to the
    training's `<run>/summaries`, each with its own episodes — not one run zig-zagging between them; and
    `make tensorboard`'s server (on 127.0.0.1) lists them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    shared, exp, epochs = stack["shared"], stack["experiment"], set(stack["epochs"])
    mirrored = shared / exp.name

    def scalars(tester_id):
        acc = EventAccumulator(str(mirrored / "eval" / tester_id))
        acc.Reload()
        return acc.Scalars("eval/mean_return") if "eval/mean_return" in acc.Tags()["scalars"] else []

    runs = wait_for(
        lambda: all(scalars(t) for t in TESTERS) and {t: scalars(t) for t in TESTERS}, 90, step=1, what="eval scalars"
    )
    for tester_id, points in runs.items():
        assert {p.step for p in points} <= epochs, (tester_id, points)
        lines = [json.loads(x) for x in (mirrored / "eval" / tester_id / "episodes.jsonl").read_text().splitlines()]
        assert lines and {x["epoch"] for x in lines} <= epochs
    multiplexer = EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(shared))
    found = set(multiplexer.Runs())
    assert {f"{exp.name}/eval/tester-1", f"{exp.name}/eval/tester-2", f"{exp.name}/summaries"} <= found, found

    tb_port = free_port()
    tb = Service(
        "tensorboard",
        [sys.executable, "-m", "services.stack", "tensorboard", "--runtime", "local", "--tb-port", tb_port],
        stack["home"] / "logs",
        cwd=stack["home"],  # POLICYCAST_HOME: the local runtime's runs-shared/ is here
        env={"PYTHONPATH": str(ROOT)},
    )
    try:
        listed = wait_for(lambda: _runs(tb_port), 120, step=1, what="make tensorboard listing the runs")
        assert {f"{exp.name}/eval/tester-1", f"{exp.name}/eval/tester-2", f"{exp.name}/summaries"} <= set(listed)
    finally:
        tb.stop()
    assert f"tensorboard: http://127.0.0.1:{tb_port}" in tb.output()


def _runs(port) -> list | None:
    try:
        r = requests.get(f"http://127.0.0.1:{port}/data/runs", timeout=5)
    except requests.ConnectionError:
        return None
    return r.json() if r.ok and len(r.json()) >= 3 else None


def test_promtool_fires_each_alert_and_keeps_quiet_on_close_calls():
    done = run([require("promtool"), "test", "rules", "tests/metrics/alerts_test.yml"])
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", (ROOT / "tests/metrics/alerts_test.yml").read_text()))
    assert tested == ALERTS  # every rule of docs/alerts.yml has its cases
    checked = run([require("promtool"), "check", "config", "docs/prometheus.yml"])
    assert checked.returncode == 0, checked.stdout + checked.stderr

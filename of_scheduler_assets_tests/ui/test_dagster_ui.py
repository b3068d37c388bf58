"""The Dagster UI on this code location (issue 6, part 6).

`dagster dev` is started on 127.0.0.1 (a free port) with the project's `workspace.yaml` and a temporary DAGSTER_HOME
and OF_SCHEDULER_HOME, the way `of-scheduler ui` starts it. The tests then check over GraphQL that every layer group,
asset, job, schedule and sensor of `of_scheduler_assets.definitions.defs` is served, launch `rank_captions_job` from
the UI's API and wait for it to succeed on a tiny generated world, and take a headless Chromium screenshot of the
global asset graph, kept as `test-artifacts/asset_graph.png`.

Before the server starts, the world gets everything `rank_captions_job` reads (the upstream of its assets: ingestion,
the warehouse model, today's priors and feature store) materialized in-process into the same warehouse and Dagster
instance, so the launched run does real work on real data.

The instance's run queue holds runs started by schedules, sensors and declarative automation at a concurrency limit of
0: they stay queued and never compete with the tested run for the DuckDB file (the sensors of a fresh instance fire at
start-up: the reference-file sensor has no cursor yet).

Chromium is Debian's `chromium` package, installed by `.ci/run`. Without it the screenshot test FAILS when `CI` is set
(`.ci/run` sets it) and is skipped otherwise, with the reason shown by `-ra`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from of_scheduler_assets_tests.support.waiting import wait_for
from of_scheduler_assets_tests.support.world import generate_world, world_as_of, world_range_tags

pytestmark = [pytest.mark.ui, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = REPO / "workspace.yaml"
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOT = ARTIFACTS / "asset_graph.png"
LOCATION = "of_scheduler"  # workspace.yaml
REPOSITORY = "__repository__"  # a module exposing a `Definitions` object
JOB = "rank_captions_job"
START_TIMEOUT_S = 240.0  # the code location imports the whole asset graph; a loaded 2-core CI machine is slow
RUN_TIMEOUT_S = 600.0
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Runs from schedules, sensors and declarative automation stay queued (limit 0); runs launched by hand are untouched.
AUTOMATION_RUN_TAGS = ("dagster/schedule_name", "dagster/sensor_name", "dagster/auto_materialize")
DAGSTER_YAML = "\n".join([
    "telemetry:",
    "  enabled: false",
    "nux:",  # the community sign-up dialog would cover the screenshot
    "  enabled: false",
    "run_coordinator:",
    "  module: dagster.core.run_coordinator",
    "  class: QueuedRunCoordinator",
    "  config:",
    "    dequeue_interval_seconds: 1",
    "    tag_concurrency_limits:",
    *[f"      - key: {tag}\n        limit: 0" for tag in AUTOMATION_RUN_TAGS],
    "",
])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class DagsterDev:
    url: str
    process: subprocess.Popen
    log: Path
    world: Path  # OF_SCHEDULER_HOME: the generated world and its warehouse

    def log_tail(self, chars: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def exit_report(self) -> str:
        return f"dagster dev exited with code {self.process.returncode}:\n{self.log_tail()}"

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
            payload = json.load(response)
        assert not payload.get("errors"), payload["errors"]
        return payload["data"]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (webserver, daemon, code server, run workers), SIGKILL if it lingers."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):  # stragglers of the group, if any
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(timeout=10)


LOCATION_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message stack } } } } } }
"""


def _location_loaded(server: DagsterDev) -> bool | None:
    try:
        data = server.graphql(LOCATION_QUERY)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None  # the webserver is not listening yet
    entries = {e["name"]: e for e in data["workspaceOrError"].get("locationEntries", [])}
    entry = entries.get(LOCATION)
    if entry is None or entry["loadStatus"] != "LOADED":
        return None
    loaded = entry["locationOrLoadError"]
    assert loaded and loaded["__typename"] == "RepositoryLocation", f"code location failed to load: {loaded}"
    return True


@contextlib.contextmanager
def dagster_dev(env: dict[str, str], workdir: Path) -> Iterator[DagsterDev]:
    """`dagster dev` in its own process group; a port taken between choosing and binding it is retried."""
    for attempt in range(3):
        port = free_port()
        log = workdir / f"dagster_dev_{attempt}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "dagster", "dev", "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(port)],
                cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = DagsterDev(url=f"http://127.0.0.1:{port}", process=process, log=log,
                            world=Path(env["OF_SCHEDULER_HOME"]))
        try:
            try:
                wait_for("the code location to load", lambda server=server: _location_loaded(server), server.process,
                         START_TIMEOUT_S, server.exit_report)  # fmt: skip
            except AssertionError:
                if "address already in use" in server.log_tail().lower() and attempt < 2:
                    continue
                raise
            yield server
            return
        finally:
            _stop(process)


def _prepare_world(home: Path, dagster_home: Path, env: dict[str, str]) -> None:
    """Materialize the upstream of `rank_captions_job` (not the job's own assets) with the code location's own
    resources, into the world's warehouse and the instance the UI will serve: non-daily assets over the world's
    partition range, the per-day decision assets (priors, feature store) for the world's evaluation date."""
    from of_scheduler_assets.automation.jobs import DAILY_DECISIONS, rank_captions_job
    from of_scheduler_assets.definitions import build_definitions

    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        defs = build_definitions()  # resources resolved from this environment, as the UI's code server does
        graph = defs.resolve_asset_graph()
        job = defs.resolve_implicit_global_asset_job_def()
        ranked = rank_captions_job.selection
        upstream = (ranked.upstream() - ranked).required_multi_asset_neighbors().resolve(graph)
        assert not upstream & ranked.resolve(graph)
        daily = DAILY_DECISIONS.resolve(graph)
        day = dt.date.fromisoformat(env["OF_SCHEDULER_AS_OF"][:10]).isoformat()
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            model = job.execute_in_process(instance=instance, tags=world_range_tags(home),
                                           asset_selection=sorted(upstream - daily))
            assert model.success
            decisions = job.execute_in_process(instance=instance, partition_key=day,
                                               asset_selection=sorted(upstream & daily))
            assert decisions.success


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> Iterator[DagsterDev]:
    root = tmp_path_factory.mktemp("ui")
    home = generate_world(root / "of_home", scale=0.02, days=10, seed=3)
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OF_SCHEDULER_", "DAGSTER_"))}
    env.update({
        "OF_SCHEDULER_HOME": str(home),
        "OF_SCHEDULER_AS_OF": world_as_of(home).isoformat(),  # the world's evaluation time, in every process
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "PYTHONUNBUFFERED": "1",
    })
    _prepare_world(home, dagster_home, env)
    with dagster_dev(env, root) as server:
        yield server


def _defs():
    from of_scheduler_assets.definitions import defs

    return defs


AUTOMATION_SENSOR = "default_automation_condition_sensor"
REPOSITORY_QUERY = """
query ($selector: RepositorySelector!) { repositoryOrError(repositorySelector: $selector) { __typename
  ... on Repository { name
    assetGroups { groupName }
    assetNodes { assetKey { path } groupName }
    jobs { name isAssetJob }
    schedules { name cronSchedule executionTimezone pipelineName }
    sensors { name targets { pipelineName } } }
  ... on PythonError { message } } }
"""


def test_ui_serves_every_layer_group_asset_job_schedule_and_sensor_of_the_definitions(ui):
    defs = _defs()
    repo = defs.get_repository_def()
    data = ui.graphql(REPOSITORY_QUERY, {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}})
    served = data["repositoryOrError"]
    assert served["__typename"] == "Repository", served

    from of_scheduler_assets import settings

    groups = {spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert groups <= set(settings.LAYER_SCHEMAS) and len(groups) >= 10  # the layer groups, named after the schemas
    assert {g["groupName"] for g in served["assetGroups"]} == groups
    assert {(tuple(n["assetKey"]["path"]), n["groupName"]) for n in served["assetNodes"]} == {
        (tuple(spec.key.path), spec.group_name) for spec in defs.resolve_all_asset_specs()}

    jobs = {job.name for job in repo.get_all_jobs() if not job.name.startswith("__")}
    assert JOB in jobs
    assert {j["name"] for j in served["jobs"] if not j["name"].startswith("__")} == jobs

    assert {(s["name"], s["cronSchedule"], s["executionTimezone"], s["pipelineName"]) for s in served["schedules"]} == {
        (s.name, s.cron_schedule, s.execution_timezone or "UTC", s.job_name) for s in repo.schedule_defs}
    sensors = {s["name"]: {t["pipelineName"] for t in s["targets"] or []} for s in served["sensors"]}
    assert set(sensors) == {s.name for s in repo.sensor_defs}
    for sensor in repo.sensor_defs:
        if sensor.has_jobs:  # Dagster's own sensor for declarative automation targets no named job
            assert sensors[sensor.name] == {j.name for j in sensor.jobs}, sensor.name
    # that sensor is there exactly when some asset follows its upstream through an automation condition
    assert (AUTOMATION_SENSOR in sensors) == any(spec.automation_condition for spec in defs.resolve_all_asset_specs())


LAUNCH = """
mutation ($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on RunConfigValidationInvalid { errors { message } }
  ... on PythonError { message stack }
  ... on Error { message } } }
"""
RUN = """
query ($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { status jobName assetMaterializations { assetKey { path } }
    assetCheckEvaluations: eventConnection(limit: 1000) { events { __typename
      ... on AssetCheckEvaluationEvent { evaluation { checkName success assetKey { path } } } } } } } }
"""
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def test_rank_captions_job_launched_from_the_ui_succeeds_and_ranks_the_world(ui):
    from of_scheduler_assets.automation.jobs import rank_captions_job

    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": JOB},
              "runConfigData": {}}
    launched = ui.graphql(LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished() -> dict | None:
        run = ui.graphql(RUN, {"runId": run_id})["runOrError"]
        return run if run.get("status") in TERMINAL else None

    run = wait_for(f"run {run_id} of {JOB}", finished, ui.process, RUN_TIMEOUT_S, ui.exit_report)
    assert run["status"] == "SUCCESS", f"{JOB} run {run_id}: {run['status']}\n{ui.log_tail()}"
    assert run["jobName"] == JOB

    # every asset of the job was materialized by this run, and every check of those assets ran and passed
    graph = _defs().resolve_asset_graph()
    keys = rank_captions_job.selection.resolve(graph)
    assert {tuple(m["assetKey"]["path"]) for m in run["assetMaterializations"]} == {tuple(k.path) for k in keys}
    evaluations = [e["evaluation"] for e in run["assetCheckEvaluations"]["events"]
                   if e["__typename"] == "AssetCheckEvaluationEvent"]
    checks = {(tuple(c.asset_key.path), c.name) for c in graph.asset_check_keys if c.asset_key in keys}
    assert checks and {(tuple(e["assetKey"]["path"]), e["checkName"]) for e in evaluations} == checks
    assert all(e["success"] for e in evaluations), evaluations

    # ... for real: the world's active pages have ranked slots, written by this run at the world's evaluation time
    from of_scheduler_assets_tests.support.world import table

    active = set(table(ui.world, "layer_03_foundation", "dim_page").filter(pl.col("is_active"))["username_page"])
    grid = table(ui.world, "layer_06_rankings", "slot_grid_next24")
    rank = table(ui.world, "layer_06_rankings", "caption_rank_next24")
    assert active and set(grid["username_page"]) == active
    assert (grid.group_by("username_page").len()["len"] == 24).all()
    assert rank["run_id"].unique().to_list() == [run_id]
    assert rank["generated_at"].unique().to_list() == [world_as_of(ui.world)]
    primaries = rank.filter(pl.col("rank") == 1)
    assert primaries.height == grid.height
    assert set(primaries["username_page"]) == active


WINDOW = (1800, 1500)


def _graph_nodes(dom: str) -> set[str]:
    """Labels of the nodes drawn in the asset graph (its SVG nodes carry a `data-tooltip` with the name)."""
    return set(re.findall(r'data-tooltip="([^"]+)"', dom))


def _graph_offset(dom: str) -> tuple[float, float]:
    """Where the UI placed the graph in its pane: the (x, y) translation of the zoom/pan transform. The UI centres the
    graph after zooming it to fit, so a negative offset means part of the graph is outside the picture."""
    found = re.search(r"transform-origin: left top; transform: matrix\(([^)]*)\)", dom)
    assert found, "no zoomable graph in the page"
    scale, _, _, _, x, y = (float(v) for v in found.group(1).split(","))
    assert scale > 0
    return x, y


def test_asset_graph_screenshot_shows_every_layer_group(ui, tmp_path):
    if CHROMIUM is None:
        message = "chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message + "; under CI this test fails instead")
    ARTIFACTS.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    # The global asset lineage ("Lineage" in the UI): one node per group, the groups' dependencies as edges. With
    # fewer than 50 nodes the UI lays the graph out synchronously, so once Chromium's virtual time budget has run out
    # (page loaded, GraphQL answered, timers run) the graph is drawn.
    url = f"{ui.url}/asset-groups"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
         "--virtual-time-budget=30000", "--run-all-compositor-stages-before-draw", f"--screenshot={SCREENSHOT}",
         "--dump-dom", url],
        capture_output=True, text=True, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0 and SCREENSHOT.exists(), done.stderr[-4000:]
    print(f"\nasset graph screenshot: {SCREENSHOT}")

    groups = {spec.group_name for spec in _defs().resolve_all_asset_specs()}
    assert _graph_nodes(done.stdout) == groups, "the page did not draw the asset graph with every layer group"
    x, y = _graph_offset(done.stdout)
    assert x >= 0 and y >= 0, f"the graph does not fit the {WINDOW} window (offset {x}, {y}): make it larger"

    from PIL import Image

    with Image.open(SCREENSHOT) as image:
        assert image.size == WINDOW
        pixels = image.convert("RGB")
        colors = pixels.getcolors(maxcolors=1 << 20)
        assert colors is not None and len(colors) > 500, "the screenshot is (nearly) blank"

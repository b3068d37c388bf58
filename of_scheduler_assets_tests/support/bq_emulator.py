"""Start the ``bqemulator`` BigQuery stand-in offline, in its own process group, for tests.

``running_bqemulator()`` launches THIS file as a script in a subprocess (``python bq_emulator.py --serve ...``). The
launched process applies two offline patches before starting the server (see shared/notes/stack.md):

* DuckDB's spatial extension loader is replaced by a no-op (as shipped, bqemulator downloads it at start-up and
  refuses to start offline; GEOGRAPHY is then unavailable, which we do not use). The best-effort Avro extension
  download is switched off too (``enable_format_extensions=False``), so start-up never touches the network.
* ``*/*`` is added to the permitted upload content types (the Python client sends it on small multipart uploads).

The parent waits by polling the REST API (no fixed sleeps) and kills the whole process group at exit, also when the
body of the ``with`` block raises.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from of_scheduler_assets_tests.support.waiting import wait_for

if TYPE_CHECKING:
    from google.cloud import bigquery

DEFAULT_PROJECT = "of-scheduler-test"
START_TIMEOUT_S = 60.0


@dataclass
class BqEmulator:
    """A running emulator: ``endpoint`` is ``http://127.0.0.1:PORT``."""

    endpoint: str
    project: str
    data_dir: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` (without scheme)."""
        return self.endpoint.split("://", 1)[1]

    def client(self) -> bigquery.Client:
        """A ``google.cloud.bigquery.Client`` on the emulator with anonymous credentials."""
        return make_client(self.endpoint, self.project)


def make_client(endpoint: str, project: str, location: str | None = None) -> bigquery.Client:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=project,
        location=location,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )


# ----------------------------------------------------------------------------------------------------------------------
# parent side
# ----------------------------------------------------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Never let the child (or anything it imports) pick up credentials or a proxy to Google.
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "BIGQUERY_EMULATOR_HOST"):
        env.pop(name, None)
    # BQEMU_* variables of the caller would override nothing we pass as flags, but keep the child predictable.
    for name in [n for n in env if n.startswith("BQEMU_")]:
        env.pop(name)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _answers(endpoint: str, project: str) -> bool:
    url = f"{endpoint}/bigquery/v2/projects/{project}/datasets"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def running_bqemulator(project: str = DEFAULT_PROJECT) -> Iterator[BqEmulator]:
    """Start bqemulator on 127.0.0.1 (free port), data in a temp dir; stop its process group at exit."""
    with tempfile.TemporaryDirectory(prefix="bqemu-") as tmp:
        tmp_path = Path(tmp)
        port_file = tmp_path / "port"
        log_path = tmp_path / "emulator.log"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            "--project",
            project,
            "--data-dir",
            str(tmp_path / "data"),
            "--port-file",
            str(port_file),
            "--parent-pid",
            str(os.getpid()),
        ]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_child_env(),
                cwd=tmp,
                start_new_session=True,  # own process group: killpg reaches everything it starts
            )
        try:
            endpoint = _wait_until_ready(process, port_file, log_path, project)
            yield BqEmulator(endpoint=endpoint, project=project, data_dir=tmp_path / "data", process=process)
        finally:
            _stop(process)


def _wait_until_ready(process: subprocess.Popen, port_file: Path, log_path: Path, project: str) -> str:
    """The emulator's endpoint once it writes its port file and answers for `project`."""

    def log_tail() -> str:
        return log_path.read_text(errors="replace")[-4000:] if log_path.exists() else ""

    def endpoint() -> str | None:
        text = port_file.read_text().strip() if port_file.exists() else ""
        url = f"http://127.0.0.1:{int(text)}" if text else None
        return url if url is not None and _answers(url, project) else None

    return wait_for("bqemulator to answer", endpoint, process, START_TIMEOUT_S,
                    lambda: f"bqemulator exited with code {process.returncode} during start-up:\n{log_tail()}",
                    max_interval_s=0.1)  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------------
# child side (the launcher)
# ----------------------------------------------------------------------------------------------------------------------


def _apply_offline_patches() -> None:
    from bqemulator.api.routes import upload
    from bqemulator.storage.engine import DuckDBEngine

    def _no_spatial(self) -> None:  # GEOGRAPHY unsupported offline; everything else works
        return None

    DuckDBEngine._load_spatial = _no_spatial  # type: ignore[method-assign]
    if "*/*" not in upload._PERMITTED_MEDIA_CONTENT_TYPES:
        upload._PERMITTED_MEDIA_CONTENT_TYPES = (*upload._PERMITTED_MEDIA_CONTENT_TYPES, "*/*")


def _serve(project: str, data_dir: Path, port_file: Path, parent_pid: int | None = None) -> None:
    import asyncio

    _apply_offline_patches()

    from bqemulator.config import LogLevel, PersistenceMode, Settings
    from bqemulator.server import EmulatorServer

    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        rest_host="127.0.0.1",
        rest_port=0,
        grpc_host="127.0.0.1",
        grpc_port=0,
        persistence_mode=PersistenceMode.PERSISTENT,
        data_dir=data_dir,
        upload_staging_dir=data_dir / "uploads",
        gcs_local_root=data_dir / "gcs",
        default_project_id=project,
        enable_format_extensions=False,  # the Avro extension would be downloaded
        log_level=LogLevel.WARNING,
        metrics_enabled=False,
        tracing_enabled=False,
    )
    server = EmulatorServer(settings)

    async def main() -> None:
        await server.start()
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(server.rest_port))
        tmp.replace(port_file)  # atomic: the parent never reads a half-written file
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def watch_parent() -> None:
            # If the test process dies without cleaning up (SIGKILL), do not linger as an orphan.
            while parent_pid is not None and os.getppid() == parent_pid:
                await asyncio.sleep(1.0)
            stop.set()

        watchdog = asyncio.create_task(watch_parent()) if parent_pid else None
        try:
            await stop.wait()
        finally:
            if watchdog is not None:
                watchdog.cancel()
            await server.stop()

    asyncio.run(main())


def _main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="offline bqemulator launcher")
    parser.add_argument("--serve", action="store_true", required=True)
    parser.add_argument("--project", default=DEFAULT_PROJECT)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    _serve(args.project, args.data_dir, args.port_file, args.parent_pid)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

__all__ = ["BqEmulator", "DEFAULT_PROJECT", "make_client", "running_bqemulator"]

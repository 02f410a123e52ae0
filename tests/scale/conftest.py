"""A real local Ray cluster for the scale tests: a head and a worker node on loopback.

Both nodes are ``ray start --block`` processes started in their own process group,
with one CPU each, no dashboard UI and a small object store; every port is picked
free so that several test runs on one machine never meet. Teardown kills the two
process groups this fixture created, and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

RAY = Path(sys.executable).with_name("ray")
OBJECT_STORE_BYTES = 200 * 1024 * 1024
START_TIMEOUT_S = 180.0  # a loaded 2-core machine can take a minute to start a node


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ray_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RAY_USAGE_STATS_ENABLED="0",
        RAY_DEDUP_LOGS="0",
        # Each worker embeds with one thread: the node offers one CPU.
        OMP_NUM_THREADS="1",
        PYTHONWARNINGS="ignore",
    )
    return env


@dataclass
class RayNode:
    """One ``ray start --block`` process group."""

    process: subprocess.Popen[bytes]
    log: Path

    def descendants(self) -> list[int]:
        """Pids of the processes of this node (raylet, workers, agents), from /proc."""
        parents: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])  # field 4, after "(comm)" and state
            parents.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [self.process.pid]
        while todo:
            children = parents.get(todo.pop(), [])
            found.extend(children)
            todo.extend(children)
        return found

    def stop(self) -> None:
        # The group id is the pid of the process this fixture started (start_new_session).
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # daemons left in the group


def command_line(pid: int) -> str:
    """What a process calls itself (Ray workers retitle themselves ``ray::<task>``)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}


@dataclass
class RayCluster:
    address: str
    head: RayNode
    worker: RayNode
    temp_dir: Path


def _start_node(args: list[str], log: Path) -> RayNode:
    handle = log.open("wb")
    process = subprocess.Popen(
        [str(RAY), "start", "--block", *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=_ray_env(),
        start_new_session=True,
    )
    handle.close()
    return RayNode(process, log)


def _wait_for_cpus(address: str, cpus: int, nodes: list[RayNode]) -> None:
    """Poll the cluster from a throw-away process until ``cpus`` CPUs have joined."""
    probe = (
        "import ray, sys, time\n"
        f"ray.init(address={address!r}, logging_level='error', log_to_driver=False)\n"
        f"deadline = time.time() + {START_TIMEOUT_S}\n"
        f"while ray.cluster_resources().get('CPU', 0) < {cpus} and time.time() < deadline:\n"
        "    time.sleep(0.5)\n"
        f"sys.exit(0 if ray.cluster_resources().get('CPU', 0) >= {cpus} else 1)\n"
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for node in nodes:
            if node.process.poll() is not None:
                raise RuntimeError(f"ray node exited early:\n{node.log.read_text()[-3000:]}")
        done = subprocess.run(
            [sys.executable, "-c", probe], env=_ray_env(), capture_output=True, timeout=600
        )
        if done.returncode == 0:
            return
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster at {address} did not offer {cpus} CPUs in time")


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """Head (1 CPU) + one worker node (1 CPU) on 127.0.0.1, torn down at the end."""
    temp_dir = Path(tempfile.mkdtemp(prefix="vr", dir="/tmp"))  # short: unix socket paths
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = [
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        f"--object-store-memory={OBJECT_STORE_BYTES}",
        "--disable-usage-stats",
        f"--dashboard-agent-listen-port={_free_port()}",
    ]
    head = _start_node(
        [
            "--head",
            f"--port={port}",
            "--include-dashboard=false",
            f"--dashboard-port={_free_port()}",
            f"--ray-client-server-port={_free_port()}",
            f"--temp-dir={temp_dir}",
            *common,
        ],
        temp_dir.with_suffix(".head.log"),
    )
    worker: RayNode | None = None
    try:
        _wait_for_cpus(address, 1, [head])
        worker = _start_node([f"--address={address}", *common], temp_dir.with_suffix(".worker.log"))
        _wait_for_cpus(address, 2, [head, worker])
        yield RayCluster(address, head, worker, temp_dir)
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        if worker is not None:
            worker.stop()
        head.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)
        for log in (head.log, temp_dir.with_suffix(".worker.log")):
            log.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _quiet_ray() -> Iterator[None]:
    """Ray's own deprecation and resource warnings are not ours to fix; ours still fail."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray\..*")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"ray\..*")
        yield


@pytest.fixture(scope="session")
def vtest_cut(vtest_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 24 s of the real clip, packets copied as they are (no re-encoding)."""
    target = tmp_path_factory.mktemp("clip") / "vtest-24s.avi"
    with av.open(str(vtest_path)) as source, av.open(str(target), "w") as sink:
        video = source.streams.video[0]
        out = sink.add_stream_from_template(video)
        assert video.time_base is not None
        for packet in source.demux(video):
            if packet.pts is None or packet.dts is None:
                continue
            if float(packet.pts * video.time_base) >= 24.0:
                break
            packet.stream = out
            sink.mux(packet)
    return target

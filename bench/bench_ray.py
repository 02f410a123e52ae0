"""Throughput of sharded indexing with 1 vs 2 Ray worker nodes, and a projection to many cameras.

A local cluster is started for each configuration: a head that runs no tasks
(``--num-cpus 0``) and N worker nodes with one CPU each, all on 127.0.0.1. Each
worker's model is loaded by a warm-up run first (one 6 s cut of the clip), so the
timed run measures steady-state decode + embed + driver writes, not model loading.

Run:  .venv/bin/python bench/bench_ray.py [--seconds 30] [--interval 0.5]
Data: the real clip vtest.avi (OpenCV sample, 768x576, 10 fps), first ``--seconds`` of it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import av

from vigil.scale import projected_workers
from vigil.settings import EmbedderSettings, SamplingSettings, ScaleSettings, Settings
from vigil.workspace import Workspace

RAY = Path(sys.executable).with_name("ray")
VTEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "vtest.avi"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cut(source: Path, seconds: float, target: Path) -> Path:
    """The first ``seconds`` of the clip, packets copied (no re-encoding)."""
    with av.open(str(source)) as reader, av.open(str(target), "w") as sink:
        video = reader.streams.video[0]
        out = sink.add_stream_from_template(video)
        assert video.time_base is not None
        for packet in reader.demux(video):
            if packet.pts is None or packet.dts is None:
                continue
            if float(packet.pts * video.time_base) >= seconds:
                break
            packet.stream = out
            sink.mux(packet)
    return target


def _env() -> dict[str, str]:
    return dict(
        os.environ, RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore"
    )


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [str(RAY), "start", "--block", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
             f"--dashboard-agent-listen-port={_free_port()}", "--object-store-memory=200000000",
             *args],
            stdout=handle, stderr=subprocess.STDOUT, env=_env(), start_new_session=True,
        )  # fmt: skip


@contextlib.contextmanager
def cluster(workers: int, temp: Path) -> Iterator[str]:
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _start(
        ["--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false",
         f"--dashboard-port={_free_port()}", f"--ray-client-server-port={_free_port()}",
         f"--temp-dir={temp}"],
        temp.with_suffix(".head.log"),
    )  # fmt: skip
    nodes = [head]
    try:
        time.sleep(8)
        for number in range(workers):
            nodes.append(
                _start(
                    [f"--address={address}", "--num-cpus=1"],
                    temp.with_suffix(f".w{number}.log"),
                )
            )
        wait = (
            "import ray,time\n"
            f"ray.init(address={address!r}, logging_level='error', log_to_driver=False)\n"
            f"while ray.cluster_resources().get('CPU', 0) < {workers}: time.sleep(0.5)\n"
        )
        subprocess.run([sys.executable, "-c", wait], env=_env(), check=True, timeout=300)
        yield address
    finally:
        for node in reversed(nodes):  # the process groups this script started, nothing else
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.wait(timeout=15)
        shutil.rmtree(temp, ignore_errors=True)
        for log in temp.parent.glob(f"{temp.name}.*.log"):
            log.unlink()


def run(workers: int, clip: Path, warmup: Path, args: argparse.Namespace, root: Path) -> dict:
    home = root / f"ws{workers}"
    settings = Settings(
        home=home,
        sampling=SamplingSettings(interval_s=args.interval),
        embedder=EmbedderSettings(name=args.embedder),
        scale=ScaleSettings(shard_seconds=args.shard_seconds),
    )
    temp = Path(tempfile.mkdtemp(prefix="vb", dir="/tmp"))
    with cluster(workers, temp) as address, Workspace.open(settings) as ws:
        ws.add_source(str(warmup), name="warmup")
        ws.add_source(str(clip), name="walkway")
        ws.index_on_ray(["warmup"], address=address)  # loads the model in every worker
        report = ws.index_on_ray(["walkway"], address=address)
    return {
        "workers": workers,
        "frames": report.frames_written,
        "seconds": round(report.seconds, 2),
        "frames_per_s": round(report.frames_per_second, 2),
        "worker_seconds_per_frame": round(report.embed_seconds / max(1, report.frames_written), 3),
        "errors": report.errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="media seconds indexed")
    parser.add_argument("--interval", type=float, default=0.5, help="sampling interval, s")
    parser.add_argument("--shard-seconds", type=float, default=5.0)
    parser.add_argument("--embedder", default="concept-bridge")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vigil-bench-ray-"))
    clip = _cut(VTEST, args.seconds, root / "clip.avi")
    warmup = _cut(VTEST, 6.0, root / "warmup.avi")
    results = [run(n, clip, warmup, args, root) for n in (1, 2)]
    one, two = results
    per_worker = one["frames_per_s"]
    per_camera = 1.0 / args.interval  # frames/s a live camera produces at this interval
    summary = {
        "data": f"vtest.avi first {args.seconds:g} s, interval {args.interval:g} s",
        "embedder": args.embedder,
        "runs": results,
        "speedup_2_vs_1": round(two["frames_per_s"] / one["frames_per_s"], 2),
        "per_worker_frames_per_s": per_worker,
        "assumption": f"{per_camera:g} frames/s per camera (1 frame per {args.interval:g} s, "
        "before de-duplication), linear scaling per 1-CPU worker",
        "workers_for_100_cameras": projected_workers(100, per_camera, per_worker),
        "workers_for_1000_cameras": projected_workers(1000, per_camera, per_worker),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

"""Search latency of the REST API under concurrent clients on loopback (bounded run).

Indexes the first seconds of the real clip with the real bundled model into a
throw-away workspace, starts ``vigil serve`` as its own process (so the clients do
not share its interpreter), then has N client threads send text searches for a
fixed number of requests each and prints p50/p95/p99 latency and throughput.

    .venv/bin/python bench/bench_api.py --clients 20 --requests 15
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from vigil.sources.sample_data import sample_video

REPO = Path(__file__).resolve().parents[1]
VTEST = sample_video()
QUERIES = ["person", "people walking", "a bicycle", "a car", "a backpack", "grass", "a bench"]


def prepare(home: Path, frames: int, embedder: str) -> None:
    from vigil.settings import EmbedderSettings, Settings
    from vigil.workspace import Workspace

    settings = Settings(home=home, embedder=EmbedderSettings(name=embedder))
    with Workspace.open(settings) as workspace:
        source = workspace.add_source(str(VTEST), name="walkway")
        workspace.index([source.id], max_frames=frames)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become ready")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=15, help="per client")
    parser.add_argument("--frames", type=int, default=30, help="one-second frames to index")
    parser.add_argument("--limit", type=int, default=24, help="hits per search")
    parser.add_argument("--embedder", default="concept-bridge")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        started = time.perf_counter()
        prepare(home, args.frames, args.embedder)
        print(
            f"indexed {args.frames} frames in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "vigil"),
                "--home",
                str(home),
                "--embedder",
                args.embedder,
                "serve",
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL,
        )
        try:
            wait_ready(url, server)
            with httpx.Client(base_url=url, timeout=60) as warm:
                warm.get("/api/v1/search", params={"q": "warm up"}).raise_for_status()
            latencies: list[float] = []
            errors: list[str] = []
            lock = threading.Lock()
            barrier = threading.Barrier(args.clients)

            def client(number: int) -> None:
                with httpx.Client(base_url=url, timeout=60) as http:
                    barrier.wait()
                    for i in range(args.requests):
                        query = QUERIES[(number + i) % len(QUERIES)]
                        t0 = time.perf_counter()
                        response = http.get(
                            "/api/v1/search", params={"q": query, "limit": args.limit}
                        )
                        elapsed = time.perf_counter() - t0
                        with lock:
                            if response.status_code == 200:
                                latencies.append(elapsed)
                            else:
                                errors.append(f"{response.status_code} {response.text[:100]}")

            threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
            wall = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - wall
        finally:
            server.terminate()
            server.wait(timeout=30)

    ms = [v * 1000 for v in latencies]
    result = {
        "clients": args.clients,
        "requests": len(ms),
        "errors": len(errors),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        "throughput_rps": round(len(ms) / wall, 1),
        "cpu_cores": os.cpu_count(),
    }
    print("| clients | requests | errors | p50 ms | p95 ms | p99 ms | max ms | req/s |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {result['clients']} | {result['requests']} | {result['errors']} | {result['p50_ms']} "
        f"| {result['p95_ms']} | {result['p99_ms']} | {result['max_ms']} "
        f"| {result['throughput_rps']} |"
    )
    if errors:
        print("first errors:", errors[:3], file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Decode and sampling throughput, and memory over a one-hour video.

Measures on the real clip vtest.avi (768x576, 10 fps, 795 frames, msmpeg4):
  * PyAV demux+decode alone (frames stay YUV),
  * ``open_frames`` (decode + RGB conversion + ``Frame``),
  * ``open_frames`` + ``sample_frames`` (1 s grid, de-dup thresholds 0 / 0.01 / 0.03 / 0.05).
Then builds a one-hour file by stream-copying (remuxing, no re-encode) the real clip
end to end ~46 times into a Matroska file, decodes + samples all of it, and reports
resident memory at 10%, 50% and 100% of the media, plus the time to the first frame
when resuming half way (keyframe seek).

    python bench/bench_decode.py --json bench-decode.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import av

from vigil.settings import SamplingSettings
from vigil.sources import SourceKind, SourceSpec, open_frames, sample_frames
from vigil.sources.sample_data import sample_video

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = sample_video()
THRESHOLDS = (0.0, 0.01, 0.03, 0.05)


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident set size in MiB, from /proc where available."""
    status = Path("/proc/self/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return peak, peak


def spec_for(path: Path) -> SourceSpec:
    return SourceSpec(name=path.stem, kind=SourceKind.VIDEO, location=str(path))


def best_of(repeats: int, run: Any) -> tuple[float, Any]:
    """Fastest wall time of ``repeats`` runs (the others are cache/turbo noise)."""
    best = float("inf")
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def decode_raw(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def decode_frames(path: Path) -> int:
    with open_frames(spec_for(path)) as reader:
        return sum(1 for _ in reader)


def decode_and_sample(path: Path, threshold: float) -> tuple[int, int]:
    settings = SamplingSettings(interval_s=1.0, dedup_threshold=threshold)
    with open_frames(spec_for(path)) as reader:
        decoded = 0

        def counted() -> Any:
            nonlocal decoded
            for frame in reader:
                decoded += 1
                yield frame

        kept = sum(1 for _ in sample_frames(counted(), settings))
    return decoded, kept


def build_long_video(source: Path, target: Path, seconds: float) -> tuple[int, float]:
    """Remux the real clip end to end until ``seconds`` of media; returns (copies, duration)."""
    with av.open(str(source)) as probe:
        stream = probe.streams.video[0]
        assert stream.duration is not None and stream.time_base is not None
        clip_seconds = float(stream.duration * stream.time_base)
    copies = int(-(-seconds // clip_seconds))
    with av.open(str(target), "w", format="matroska") as out:
        out_stream = None
        offset = 0
        for _ in range(copies):
            with av.open(str(source)) as container:
                in_stream = container.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(in_stream)
                span = 0
                for packet in container.demux(in_stream):
                    if packet.dts is None:  # the demuxer's end-of-stream flush packet
                        continue
                    assert packet.pts is not None
                    span = max(span, packet.pts + (packet.duration or 1))
                    packet.pts += offset
                    packet.dts += offset
                    packet.stream = out_stream
                    out.mux(packet)
                offset += span
    return copies, copies * clip_seconds


def long_run(path: Path, duration: float, threshold: float) -> dict[str, Any]:
    settings = SamplingSettings(interval_s=1.0, dedup_threshold=threshold)
    checkpoints = {0.1: None, 0.5: None, 1.0: None}
    marks: dict[str, dict[str, float]] = {}
    decoded = kept = 0
    started = time.perf_counter()
    with open_frames(spec_for(path)) as reader:
        frame_rate = reader.info.fps or 10.0
        last_time = duration - 1.0 / frame_rate

        def counted() -> Any:
            nonlocal decoded
            for frame in reader:
                decoded += 1
                for fraction in checkpoints:
                    key = f"{int(fraction * 100)}%"
                    if key not in marks and frame.media_time >= fraction * last_time - 1e-6:
                        current, peak = rss_mib()
                        marks[key] = {
                            "media_time_s": round(frame.media_time, 1),
                            "rss_mib": round(current, 1),
                            "peak_rss_mib": round(peak, 1),
                            "wall_s": round(time.perf_counter() - started, 1),
                        }
                yield frame

        for _ in sample_frames(counted(), settings):
            kept += 1
        errors = list(reader.errors)
    seconds = time.perf_counter() - started
    return {
        "decoded": decoded,
        "kept": kept,
        "seconds": round(seconds, 1),
        "decoded_fps": round(decoded / seconds, 1),
        "errors": errors,
        "rss": marks,
    }


def resume_latency(path: Path, start_time: float) -> float:
    """Seconds from open to the first frame at ``start_time`` (keyframe seek + decode forward)."""
    started = time.perf_counter()
    with open_frames(spec_for(path), start_time) as reader:
        first = next(reader)
        frame_rate = reader.info.fps or 10.0
    elapsed = time.perf_counter() - started
    expected = round(start_time * frame_rate)
    if first.index != expected:
        raise RuntimeError(f"resume at {start_time}s gave frame {first.index}, expected {expected}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--hours", type=float, default=1.0, help="length of the long video")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    results: dict[str, Any] = {
        "video": str(args.video),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "pyav": av.__version__,
        "ffmpeg": ".".join(str(part) for part in av.library_versions["libavcodec"]),
    }
    raw_s, raw_n = best_of(args.repeats, lambda: decode_raw(args.video))
    frames_s, frames_n = best_of(args.repeats, lambda: decode_frames(args.video))
    results["decode_raw_fps"] = round(raw_n / raw_s, 1)
    results["open_frames_fps"] = round(frames_n / frames_s, 1)
    sampling: dict[str, Any] = {}
    for threshold in THRESHOLDS:
        seconds, (decoded, kept) = best_of(
            args.repeats, lambda t=threshold: decode_and_sample(args.video, t)
        )
        sampling[str(threshold)] = {
            "decoded": decoded,
            "kept": kept,
            "source_fps": round(decoded / seconds, 1),
            "kept_per_s": round(kept / seconds, 1),
        }
    results["sampling_interval_1s"] = sampling

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as folder:
        long_path = Path(folder) / "vtest_long.mkv"
        started = time.perf_counter()
        copies, duration = build_long_video(args.video, long_path, args.hours * 3600)
        results["long_video"] = {
            "copies_of_vtest": copies,
            "duration_s": duration,
            "size_mib": round(long_path.stat().st_size / 2**20, 1),
            "build_s": round(time.perf_counter() - started, 1),
        }
        results["long_run"] = long_run(long_path, duration, threshold=0.01)
        # 13 s past a copy boundary: mid-GOP (keyframes every 25 s), so the seek must decode
        # forward from the previous keyframe and drop the frames before the target.
        resume_at = round(duration / 2 + 13.0, 1)
        results["long_resume_at_s"] = resume_at
        results["long_resume_first_frame_s"] = round(resume_latency(long_path, resume_at), 3)

    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def print_table(results: dict[str, Any]) -> None:
    print(f"video: {results['video']}  ({results['machine']}, PyAV {results['pyav']})")
    print(f"{'measure':<46}{'value':>14}")
    print(f"{'PyAV decode only (YUV), frames/s':<46}{results['decode_raw_fps']:>14}")
    print(f"{'open_frames (decode + RGB Frame), frames/s':<46}{results['open_frames_fps']:>14}")
    for threshold, row in results["sampling_interval_1s"].items():
        label = f"decode+sample 1 s, dedup {threshold}: src fps / kept"
        print(f"{label:<46}{row['source_fps']:>8} / {row['kept']:>3}")
    long_video = results["long_video"]
    run = results["long_run"]
    print(
        f"\nlong video: {long_video['copies_of_vtest']} x vtest remuxed = "
        f"{long_video['duration_s']:.0f} s, {long_video['size_mib']} MiB "
        f"(built in {long_video['build_s']} s)"
    )
    print(
        f"decode+sample (1 s, dedup 0.01): {run['decoded']} frames in {run['seconds']} s "
        f"= {run['decoded_fps']} frames/s, {run['kept']} kept, errors: {run['errors'] or 'none'}"
    )
    print(f"{'progress':<10}{'media s':>10}{'RSS MiB':>10}{'peak MiB':>10}{'wall s':>10}")
    for key, mark in run["rss"].items():
        print(
            f"{key:<10}{mark['media_time_s']:>10}{mark['rss_mib']:>10}"
            f"{mark['peak_rss_mib']:>10}{mark['wall_s']:>10}"
        )
    print(
        f"resume at {results['long_resume_at_s']} s (mid-GOP; seek + decode to first frame): "
        f"{results['long_resume_first_frame_s']} s"
    )


if __name__ == "__main__":
    main()

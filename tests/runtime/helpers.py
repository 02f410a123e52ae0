"""Real parts for runtime tests and the benchmark.

* ``build_lite0_classifier``: the real EfficientNet-Lite0 ImageNet weights exported
  to ONNX with a Vigil ``ModelCard``, keeping the logits of a few ImageNet classes
  (the ones the model actually sees on the walkway clip), optionally INT8-quantised
  with onnxruntime's static quantisation calibrated on real frames of the clip.
* ``StreamServer``: a loopback HTTP server that plays an MPEG-TS file in real
  time (packets paced by their timestamps, remuxed with PyAV), and can drop every
  connection and refuse new ones for a while: a camera that goes away and comes back.
* ``WebhookReceiver``: a loopback HTTP server that records POSTs and can answer the
  first few with HTTP 500.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from vigil.distill.model_card import ModelCard, ResizeMode, write_model_card
from vigil.embedders.bundled import locate_concept_bridge_files

# ImageNet classes EfficientNet-Lite0 names most often on vtest.avi (top-3 over every 20th
# frame: pole 36, mobile home 25, unicycle 16, alp 11, ski 6 of 40 frames).
WALKWAY_CLASSES = ("pole", "mobile home", "unicycle", "alp", "ski", "shopping cart")


def imagenet_indices(names: tuple[str, ...]) -> list[int]:
    labels = locate_concept_bridge_files().classifier_labels.read_text().splitlines()
    indices = []
    for name in names:
        matches = [i for i, line in enumerate(labels) if line.split(",")[0].strip() == name]
        if len(matches) != 1:
            raise LookupError(f"ImageNet class {name!r} matched {len(matches)} labels")
        indices.append(matches[0])
    return indices


def decode_frames(path: Path, every: int, limit: int) -> list[np.ndarray]:
    frames = []
    with av.open(str(path)) as container:
        for position, frame in enumerate(container.decode(video=0)):
            if position % every == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= limit:
                break
    return frames


def build_lite0_classifier(
    path: Path,
    *,
    classes: tuple[str, ...] = WALKWAY_CLASSES,
    input_size: int = 224,
    scenario: str = "walkway-imagenet",
) -> Path:
    """Export EfficientNet-Lite0 (real ImageNet weights) keeping ``classes``' logits."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    files = locate_concept_bridge_files()
    backbone = EfficientNet.from_name("efficientnet-lite0")
    backbone.load_state_dict(
        torch.load(files.classifier_weights, map_location="cpu", weights_only=True)
    )
    keep = torch.tensor(imagenet_indices(classes))

    class Subset(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return self.backbone(image)[:, keep]  # (N, C)

    model = Subset().eval()
    example = torch.zeros(1, 3, input_size, input_size)
    with warnings.catch_warnings():
        # torch 2.13 flags the TorchScript exporter as legacy; the dynamo one needs onnxscript.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
    card = ModelCard(
        class_names=classes,
        input_size=(input_size, input_size),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        resize=ResizeMode.STRETCH,
        scenario=scenario,
        architecture="efficientnet-lite0",
    )
    write_model_card(path, card)
    return path


def quantize_int8(source: Path, target: Path, calibration: list[np.ndarray]) -> Path:
    """Static INT8 quantisation (QDQ, per-channel) calibrated on real frames."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from vigil.distill.model_card import read_model_card
    from vigil.runtime.scorers import preprocess

    card = read_model_card(source)

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter([{"image": preprocess(image, card)[None]} for image in calibration])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._items, None)

    prepared = target.with_suffix(".pre.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quant_pre_process(str(source), str(prepared))
        quantize_static(
            str(prepared),
            str(target),
            Frames(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    prepared.unlink(missing_ok=True)
    write_model_card(target, card)  # quantisation drops metadata_props
    return target


def write_ts(src: Path, dst: Path, *, width: int | None = None, gop: int = 10) -> Path:
    """The real clip re-encoded to MPEG-TS (mpeg4, 10 fps), optionally downscaled."""
    with av.open(str(src)) as source, av.open(str(dst), "w", format="mpegts") as out:
        in_stream = source.streams.video[0]
        stream = out.add_stream("mpeg4", rate=10)
        src_w, src_h = in_stream.codec_context.width, in_stream.codec_context.height
        out_w = width or src_w
        out_h = round(src_h * out_w / src_w / 2) * 2
        stream.width, stream.height = out_w, out_h
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        for frame in source.decode(in_stream):
            if out_w != src_w:
                image = cv2.resize(frame.to_ndarray(format="rgb24"), (out_w, out_h))
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = None
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dst


class _Cut(Exception):
    pass


class StreamServer:
    """Serve MPEG-TS files at real time on loopback: ``url(name)``; ``cut(down_s)``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.generation = 0
        self.refuse_until = 0.0
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests += 1
                path = server.folder / self.path.lstrip("/")
                if time.monotonic() < server.refuse_until:
                    self.send_error(503, "camera rebooting")
                    return
                if not path.is_file():
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.end_headers()
                with contextlib.suppress(_Cut, OSError, av.FFmpegError):
                    server._play(path, self.wfile)

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/{name}"

    def _play(self, path: Path, wfile: object) -> None:
        generation = self.generation
        with av.open(str(path)) as source, av.open(wfile, "w", format="mpegts") as out:
            in_stream = source.streams.video[0]
            stream = out.add_stream_from_template(in_stream)
            start = time.monotonic()
            first: int | None = None
            for packet in source.demux(in_stream):
                if packet.dts is None:
                    continue
                if self.generation != generation:
                    raise _Cut
                first = packet.dts if first is None else first
                due = start + float((packet.dts - first) * in_stream.time_base)
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                packet.stream = stream
                out.mux(packet)

    def cut(self, down_s: float) -> None:
        """Drop every open connection now and answer 503 for ``down_s`` seconds."""
        self.refuse_until = time.monotonic() + down_s
        self.generation += 1

    def close(self) -> None:
        self.generation += 1
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on receipt


@dataclass
class WebhookReceiver:
    """Records POSTs; answers the first ``fail_first`` with HTTP 500."""

    fail_first: int = 0
    received: list[Received] = field(default_factory=list)
    rejected: int = 0

    def __post_init__(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.rejected < receiver.fail_first:
                    receiver.rejected += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.received.append(Received(dict(self.headers), body, time.time()))
                self.send_response(204)
                self.end_headers()

        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/hook"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

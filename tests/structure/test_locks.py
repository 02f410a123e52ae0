"""Two writers of one workspace: unique temp names and one writer per source, on real processes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from vigil.settings import Settings
from vigil.structure.locks import source_writer_lock
from vigil.workspace import Workspace

CLI = [sys.executable, "-m", "vigil.cli.main"]


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "VIGIL_HOME": str(settings.home), "VIGIL_EMBEDDER__NAME": "fake"}


def test_two_processes_writing_one_thumbnail_never_collide(
    tmp_path: Path, vtest_path: Path
) -> None:
    """Before: both used ``000000000072.tmp`` and one died with FileNotFoundError on rename."""
    script = textwrap.dedent(
        f"""
        import cv2, sys
        from pathlib import Path
        from vigil.structure.thumbnails import write_thumbnail
        capture = cv2.VideoCapture({str(vtest_path)!r})
        ok, frame = capture.read()
        assert ok
        image = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        for _ in range(300):
            write_thumbnail(Path(sys.argv[1]), "thumbs/1/000000000072.jpg", image, 320)
        """
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    errors = [writer.communicate(timeout=120)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], errors
    assert [p.name for p in (tmp_path / "thumbs" / "1").iterdir()] == ["000000000072.jpg"]


def test_index_refuses_a_source_another_process_holds_and_names_it(
    fake_settings: Settings, vtest_path: Path
) -> None:
    env = _env(fake_settings)
    subprocess.run(
        [*CLI, "source", "add", str(vtest_path), "--name", "walkway"], env=env, check=True
    )
    with source_writer_lock(fake_settings.home, 1):
        refused = subprocess.run(
            [*CLI, "index", "walkway"], env=env, capture_output=True, text=True, timeout=120
        )
    assert refused.returncode == 1
    [line] = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert f"pid {os.getpid()} on {socket.gethostname()}" in line
    assert "Traceback" not in refused.stderr
    with Workspace.open(fake_settings) as workspace:
        assert workspace.catalog.count_embeddings(workspace.embedder.model_id) == 0


def test_index_waits_for_the_holder_when_asked(fake_settings: Settings, vtest_path: Path) -> None:
    env = _env(fake_settings)
    subprocess.run(
        [*CLI, "source", "add", str(vtest_path), "--name", "walkway"], env=env, check=True
    )
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with source_writer_lock(fake_settings.home, 1):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    waiting = subprocess.Popen(
        [*CLI, "index", "walkway", "--wait", "120"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    assert waiting.poll() is None, "the second run must wait while the source is held"
    release.set()
    holder.join()
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "new frames" in out and "complete" in out


def test_two_index_processes_on_one_source_write_each_frame_once(
    fake_settings: Settings, vtest_path: Path
) -> None:
    env = _env(fake_settings)
    subprocess.run(
        [*CLI, "source", "add", str(vtest_path), "--name", "walkway"], env=env, check=True
    )
    runs = [
        subprocess.Popen(
            [*CLI, "index", "--interval", "0.5", "--dedup", "0", "--wait", "300"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    assert all("Traceback" not in err for _, err in outputs)
    new_frames = [int(re.search(r"(\d+) new frames", out)[1]) for out, _ in outputs]  # type: ignore[index]
    # 79.5 s at one frame per 0.5 s, no de-duplication: 159 frames, written by one run only.
    assert sorted(new_frames) == [0, 159]
    with Workspace.open(fake_settings) as workspace:
        assert workspace.catalog.count_embeddings(workspace.embedder.model_id) == 159
        assert len(workspace.vector_index) == 159
        thumbs = list((fake_settings.home / "thumbs" / "1").iterdir())
        assert len(thumbs) == 159 and all(p.suffix == ".jpg" for p in thumbs)

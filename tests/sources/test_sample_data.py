"""The sample clip reaches a bare clone: linked from ../shared/data when it is there,
fetched from Debian's opencv-doc when it is not (the path a public clone takes)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import pytest

from vigil.sources import sample_data


def test_a_shared_copy_is_linked_not_fetched(
    vtest_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_SHARED_DATA", str(vtest_path.parent))
    target = sample_data.ensure_sample(tmp_path / "cache")
    assert target.is_symlink() and target.resolve() == vtest_path.resolve()
    assert sample_data.ensure_sample(tmp_path / "cache") == target  # idempotent


def _apt_can_download() -> bool:
    if shutil.which("apt-get") is None:
        return False
    probe = subprocess.run(
        ["apt-get", "download", "--print-uris", sample_data.DEBIAN_PACKAGE],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.returncode == 0 and ".deb" in probe.stdout


@pytest.mark.network
def test_a_bare_clone_fetches_the_clip_from_debian(vtest_path: Path, tmp_path: Path) -> None:
    """Downloads opencv-doc (~96 MB) from the Debian mirror and extracts only the clip."""
    if not _apt_can_download():
        pytest.fail("apt-get cannot download opencv-doc here; run 'apt-get update' as root")
    fetched = sample_data.fetch_from_debian(tmp_path / "data", workdir=tmp_path)
    assert fetched == tmp_path / "data" / "vtest.avi"
    assert fetched.read_bytes() == vtest_path.read_bytes()
    with av.open(str(fetched)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (768, 576)
    assert not list(tmp_path.glob("tmp*"))  # the package was not left behind


def test_the_demo_and_conftest_find_the_cached_clip(tmp_path: Path) -> None:
    """Both read VIGIL_SHARED_DATA, else ../shared/data, else .cache/data (setup's folder)."""
    root = Path(__file__).resolve().parents[2]
    assert "DATA=${VIGIL_SHARED_DATA:-.cache/data}" in (root / "scripts" / "demo").read_text()
    assert (
        "python -m vigil.sources.sample_data .cache/data"
        in (root / "scripts" / "setup").read_text()
    )
    assert sample_data.default_cache() == root / ".cache" / "data"

"""The real sample clip (OpenCV's ``vtest.avi``) for the demo, the README and the tests.

A checkout that sits beside the project's ``shared/data`` folder links the clip from
there; a fresh clone from a public host has no such folder, so set-up fetches it from
the Debian package that ships it (``opencv-doc``, Apache-2.0/BSD), read without
installing the package (``apt-get download`` + ``dpkg -x``, which avoids pulling its
documentation dependencies). Either way the clip ends up at ``.cache/data/vtest.avi``
in the checkout, the one path the README's commands use.

Run as ``python -m vigil.sources.sample_data [FOLDER]``; it prints the clip's path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from vigil.errors import SourceError

SAMPLE_NAME = "vtest.avi"
DEBIAN_PACKAGE = "opencv-doc"
PACKAGE_MEMBER = "usr/share/doc/opencv-doc/examples/data/vtest.avi"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def default_cache() -> Path:
    """Where set-up keeps the clip inside the checkout (ignored by git)."""
    return repo_root() / ".cache" / "data"


def shared_candidates() -> list[Path]:
    """Folders that may already hold the clip: ``VIGIL_SHARED_DATA``, then ``../shared/data``."""
    found = []
    if os.environ.get("VIGIL_SHARED_DATA"):
        found.append(Path(os.environ["VIGIL_SHARED_DATA"]))
    found.append(repo_root().parent / "shared" / "data")
    return found


def _usable(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def find_sample() -> Path | None:
    """The clip if it is already here (override, shared folder or cache), else None."""
    for folder in [*shared_candidates(), default_cache()]:
        if _usable(folder / SAMPLE_NAME):
            return folder / SAMPLE_NAME
    return None


def sample_video() -> Path:
    """The clip's path for benches and scripts: wherever it is, else where set-up puts it."""
    return find_sample() or default_cache() / SAMPLE_NAME


def fetch_from_debian(folder: Path, *, workdir: Path | None = None) -> Path:
    """Download ``opencv-doc`` and extract only the clip into ``folder``.

    Needs ``apt-get`` and ``dpkg`` with a usable package list; it does not install
    anything, so it works without root once ``apt-get update`` has run.
    """
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise SourceError(
            "cannot fetch the sample clip: apt-get/dpkg not found; copy vtest.avi "
            f"(OpenCV's sample, Debian package {DEBIAN_PACKAGE}) to {folder}/"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        here = Path(scratch)
        done = subprocess.run(
            ["apt-get", "download", "-qq", DEBIAN_PACKAGE],
            cwd=here,
            capture_output=True,
            text=True,
            check=False,
        )
        debs = sorted(here.glob(f"{DEBIAN_PACKAGE}_*.deb"))
        if done.returncode != 0 or not debs:
            reason = (done.stderr or done.stdout).strip().splitlines()
            raise SourceError(
                f"cannot fetch the sample clip: 'apt-get download {DEBIAN_PACKAGE}' failed"
                f" ({reason[-1] if reason else 'no package file'}); run 'apt-get update' "
                f"as root, or copy vtest.avi to {folder}/"
            )
        extracted = here / "extracted"
        subprocess.run(["dpkg", "-x", str(debs[0]), str(extracted)], check=True)
        member = extracted / PACKAGE_MEMBER
        if not _usable(member):
            raise SourceError(f"{debs[0].name} has no {PACKAGE_MEMBER}; the package changed")
        target = folder / SAMPLE_NAME
        partial = target.with_suffix(".part")
        shutil.copyfile(member, partial)
        os.replace(partial, target)  # never leave a half-written clip behind
    return target


def ensure_sample(folder: Path | None = None) -> Path:
    """Make ``folder/vtest.avi`` exist: link the shared copy, or fetch it from Debian."""
    folder = folder or default_cache()
    target = folder / SAMPLE_NAME
    if _usable(target):
        return target
    for shared in shared_candidates():
        if _usable(shared / SAMPLE_NAME) and (shared / SAMPLE_NAME).resolve() != target.resolve():
            folder.mkdir(parents=True, exist_ok=True)
            if target.is_symlink():
                target.unlink()  # a link left by a moved shared folder
            target.symlink_to((shared / SAMPLE_NAME).resolve())
            return target
    return fetch_from_debian(folder)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        path = ensure_sample(Path(args[0]) if args else None)
    except SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

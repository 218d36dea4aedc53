"""Check that the built sdist and wheel hold every file of the checkout that they should.

The expected lists come from git (tracked and not-ignored files), so a new module or data
file that setuptools would leave out (say a JSON file missing from package-data) fails here
instead of on a user's machine:

- sdist: everything under resnet_desktop/, resources/, packaging/ and tests/, plus the
  top-level build files;
- wheel: everything under resnet_desktop/ (code and icons), the ``resnet-desktop`` script,
  and nothing from tests/.

Usage: ``python packaging/check_dist.py DIST_DIR`` (DIST_DIR holds one .tar.gz and one .whl).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "resnet_desktop"
SDIST_FOLDERS = (PACKAGE, "resources", "packaging", "tests")
SDIST_FILES = ("pyproject.toml", "MANIFEST.in", "README.md")
ENTRY_POINT = "resnet-desktop = resnet_desktop.cli:main"


def checkout_files() -> list[str]:
    """Files git tracks or would track (untracked but not ignored), relative, with ``/``."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(name for name in listing.split("\0") if name and (ROOT / name).is_file())


def under(files: Iterable[str], folders: Sequence[str]) -> set[str]:
    return {name for name in files if name.split("/", 1)[0] in folders}


def only_one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"error: expected one {pattern} in {dist}, found {len(found)}")
    return found[0]


def sdist_names(path: Path) -> set[str]:
    """Member names without the leading ``resnet_desktop-X.Y.Z/`` folder."""
    with tarfile.open(path) as archive:
        return {
            m.name.split("/", 1)[1] for m in archive.getmembers() if m.isfile() and "/" in m.name
        }


def wheel_names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as archive:
        return set(archive.namelist())


def wheel_entry_points(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        return archive.read(name).decode()


def problems(dist: Path) -> list[str]:
    """One line per missing or unexpected file; empty when both archives are complete."""
    files = checkout_files()
    sdist, wheel = only_one(dist, "*.tar.gz"), only_one(dist, "*.whl")
    in_sdist, in_wheel = sdist_names(sdist), wheel_names(wheel)
    found = [
        *(f"sdist lacks {n}" for n in sorted(under(files, SDIST_FOLDERS) - in_sdist)),
        *(f"sdist lacks {n}" for n in SDIST_FILES if n not in in_sdist),
        *(f"wheel lacks {n}" for n in sorted(under(files, (PACKAGE,)) - in_wheel)),
        *(f"wheel holds test file {n}" for n in sorted(under(in_wheel, ("tests",)))),
    ]
    if ENTRY_POINT not in wheel_entry_points(wheel):
        found.append(f"wheel lacks the console script '{ENTRY_POINT}'")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the sdist and wheel contents.")
    parser.add_argument("dist", type=Path, help="folder with the built .tar.gz and .whl")
    args = parser.parse_args(argv)
    found = problems(args.dist)
    for line in found:
        print(f"error: {line}", file=sys.stderr)
    if not found:
        print(f"sdist and wheel in {args.dist} hold every expected file")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

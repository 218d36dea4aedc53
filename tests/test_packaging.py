"""Cheap checks of the files that install the app: desktop entry, AppStream data, icons, spec.

The expensive check (build the sdist and wheel, install into a fresh venv, run the command)
is packaging/check_wheel.sh, which CI runs.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

import resnet_desktop
from resnet_desktop import resources

ROOT = Path(__file__).resolve().parent.parent
RESOURCES = ROOT / "resources"
DESKTOP_FILE = RESOURCES / f"{resources.APP_ID}.desktop"
METAINFO_FILE = RESOURCES / f"{resources.APP_ID}.metainfo.xml"
SVG_FILE = RESOURCES / f"{resources.ICON_NAME}.svg"


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign] # keys are case-sensitive
    parser.read(DESKTOP_FILE, encoding="utf-8")
    return parser["Desktop Entry"]


def metainfo() -> ET.Element:
    return ET.parse(METAINFO_FILE).getroot()


def semicolon_list(value: str) -> list[str]:
    return [item for item in value.split(";") if item]


def test_desktop_entry_starts_the_installed_command_with_files() -> None:
    entry = desktop_entry()
    (script,) = entry_points(group="console_scripts", name="resnet-desktop")
    assert script.value == "resnet_desktop.cli:main"
    assert entry["Exec"] == f"{script.name} %F"
    assert entry["Name"] == resources.APP_NAME
    assert entry["Icon"] == resources.APP_ID
    assert {"Graphics", "Science"} <= set(semicolon_list(entry["Categories"]))
    assert {"image/jpeg", "image/png"} <= set(semicolon_list(entry["MimeType"]))


def test_metainfo_names_the_desktop_entry_and_the_current_version() -> None:
    root = metainfo()
    assert root.findtext("id") == resources.APP_ID
    assert root.findtext("name") == resources.APP_NAME
    assert root.findtext("launchable") == DESKTOP_FILE.name
    assert root.findtext("icon") == resources.APP_ID
    newest = root.find("releases/release")
    assert newest is not None
    assert newest.get("version") == resnet_desktop.__version__


def test_metainfo_and_desktop_entry_claim_the_same_image_types() -> None:
    claimed = {element.text for element in metainfo().iterfind("provides/mediatype")}
    assert claimed == set(semicolon_list(desktop_entry()["MimeType"]))


@pytest.mark.parametrize(
    ("tool", "args", "path"),
    [
        ("desktop-file-validate", [], DESKTOP_FILE),
        ("appstreamcli", ["validate", "--no-net"], METAINFO_FILE),
    ],
)
def test_freedesktop_validators_accept_the_files(tool: str, args: list[str], path: Path) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    result = subprocess.run([tool, *args, str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "largest"), [(f"{resources.ICON_NAME}.ico", 256), (f"{resources.ICON_NAME}.icns", 512)]
)
def test_platform_icons_hold_small_and_large_sizes(name: str, largest: int) -> None:
    with Image.open(RESOURCES / name) as image:
        sizes = {size[0] for size in image.info["sizes"]}
    assert {16, 32, largest} <= sizes
    assert max(sizes) == largest


def test_committed_pngs_match_the_svg(tmp_path: Path) -> None:
    """Fails when the SVG was edited without running packaging/render_icons.py."""
    rendered = tmp_path / "64.png"
    run_qt(
        f"""
        sys.path.insert(0, {str(ROOT / "packaging")!r})
        from render_icons import render_png
        render_png(Path({str(SVG_FILE)!r}), 64, Path({str(rendered)!r}))
        """
    )
    with Image.open(rendered) as fresh, resources.icon_path(64).open("rb") as stream:
        committed = Image.open(stream).convert("RGBA")
        difference = ImageChops.difference(fresh.convert("RGBA"), committed)
    assert max(ImageStat.Stat(difference).mean) < 2.0


def test_app_icon_offers_every_size() -> None:
    output = run_qt(
        """
        from resnet_desktop.resources import app_icon
        print(sorted(size.width() for size in app_icon().availableSizes()))
        """
    )
    assert output.strip() == str(sorted(resources.ICON_SIZES))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux desktop integration")
def test_desktop_files_install_under_the_app_id(tmp_path: Path) -> None:
    script = ROOT / "packaging" / "install_desktop_files.sh"
    env = {**os.environ, "DESTDIR": str(tmp_path)}
    subprocess.run(["bash", str(script), "/usr"], env=env, check=True, capture_output=True)
    share = tmp_path / "usr" / "share"
    app_id = resources.APP_ID
    assert (share / "applications" / DESKTOP_FILE.name).read_bytes() == DESKTOP_FILE.read_bytes()
    assert (share / "metainfo" / METAINFO_FILE.name).is_file()
    assert (share / "icons/hicolor/scalable/apps" / f"{app_id}.svg").is_file()
    for size in resources.ICON_SIZES:
        installed = share / f"icons/hicolor/{size}x{size}/apps/{app_id}.png"
        assert installed.read_bytes() == resources.icon_path(size).read_bytes()


def test_pyinstaller_spec_and_entry_script_compile() -> None:
    for name in ("resnet-desktop.spec", "resnet_desktop_entry.py"):
        path = ROOT / "packaging" / name
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


def run_qt(body: str) -> str:
    """Run ``body`` in a fresh offscreen QGuiApplication; returns its standard output.

    A subprocess keeps the test independent of whichever QApplication pytest-qt made.
    """
    prologue = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from PySide6.QtGui import QGuiApplication
        app = QGuiApplication([])
        """
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", prologue + textwrap.dedent(body)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_user_guide_in_the_package_is_the_readme_usage_section() -> None:
    """Help → User Guide shows the README's "Using the app"; a wheel has no README, so the
    package carries the section: edit both together (this fails until they agree)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Using the app\n")
    section = readme[start : readme.index("\n## ", start) + 1].rstrip("\n") + "\n"
    assert resources.user_guide_text() == section
    assert "help/*.md" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")

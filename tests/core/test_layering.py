"""The architecture's walls: a Qt-free core, and no torch before the window is up."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import resnet_desktop

PACKAGE = Path(resnet_desktop.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_never_imports_qt():
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(m for m in _imported_modules(path) if "PySide" in m)
        for path in (PACKAGE / "core").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def _modules_after(code: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(result.stdout.split())


def test_command_line_parsing_does_not_import_torch():
    modules = _modules_after("from resnet_desktop.cli import build_parser; build_parser()")
    assert "torch" not in modules
    assert not any(m.startswith("PySide6") for m in modules)


def test_the_modules_the_window_needs_before_torch_do_not_import_it():
    modules = _modules_after(
        "import resnet_desktop.core.train_config, resnet_desktop.core.dataset, "
        "resnet_desktop.core.evaluate, resnet_desktop.core.settings, "
        "resnet_desktop.core.library, resnet_desktop.core.weights, resnet_desktop.core.imaging"
    )
    assert "torch" not in modules

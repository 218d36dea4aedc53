"""The architecture's walls, checked on the source: who may import whom, and when.

The layers, from the bottom:

* ``core``: the Qt-free library (models, weights, prediction, training). It imports no
  other layer of the package and no Qt.
* ``app``: the use cases both front ends call (run planning, model lists, names). It
  imports ``core`` only, and no Qt.
* ``commands`` (the CLI's sub-commands) and ``gui`` (the window): the two front ends, over
  ``app`` and ``core``. Neither imports the other. A sub-command module never imports
  another one; what they share lives in ``commands/common.py`` and
  ``commands/progress.py``, which import no sub-command module either.

Imports sit at the top of a module, except the ones that keep something heavy out of
start-up: a function may import a module that loads torch or Qt when imported, or one
that imports the importing module back (a cycle). Everything else is torch-free and
imported at the top, so ``find usages`` and a reader see the dependencies at once.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import resnet_desktop

PACKAGE = Path(resnet_desktop.__file__).parent
ROOT = PACKAGE.name
HEAVY = ("torch", "torchvision", "openvino", "PySide6")  # slow to import: never at start-up
SHARED_COMMAND_MODULES = {
    f"{ROOT}.commands.common",
    f"{ROOT}.commands.progress",
    f"{ROOT}.commands.results_io",
}

# Layer -> the prefixes its modules must not import.
FORBIDDEN = {
    "core": (f"{ROOT}.app", f"{ROOT}.commands", f"{ROOT}.gui", f"{ROOT}.cli", "PySide6"),
    "app": (f"{ROOT}.commands", f"{ROOT}.gui", f"{ROOT}.cli", "PySide6"),
    "commands": (f"{ROOT}.gui", "PySide6"),
    "gui": (f"{ROOT}.commands", f"{ROOT}.cli"),
}


# ------------------------------------------------------------------------------ helpers


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement names (``from a import b`` names ``a.b`` if it is one)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not node.module:
        return []
    submodules = [f"{node.module}.{alias.name}" for alias in node.names]
    return [node.module, *(name for name in submodules if name in _modules())]


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported: not in functions, not under TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif not (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
            or _is_type_checking(node)
        ):
            pending.extend(ast.iter_child_nodes(node))
    return found


def _function_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    return [
        node
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]


@cache
def _tree(module: str) -> ast.Module:
    return ast.parse(_modules()[module].read_text(encoding="utf-8"))


@cache
def _loads_at_import(module: str) -> frozenset[str]:
    """Every module, ours and others, that importing ``module`` imports (by the source)."""
    loaded: set[str] = set()
    pending = [module]
    while pending:
        current = pending.pop()
        parts = current.split(".")
        names = {".".join(parts[:end]) for end in range(1, len(parts) + 1)}  # and its packages
        for name in names - loaded:
            loaded.add(name)
            if name in _modules():
                for node in _top_level_imports(_tree(name)):
                    pending.extend(_targets(node))
    return frozenset(loaded)


def _is_heavy(module: str) -> bool:
    return any(name.split(".")[0] in HEAVY for name in _loads_at_import(module))


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _all_imports(module: str) -> list[str]:
    tree = _tree(module)
    return [
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in _targets(node)
    ]


def _starts_with(name: str, prefixes: tuple[str, ...] | set[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


# ------------------------------------------------------------------------------ the rules


def test_each_layer_imports_only_the_layers_below_it():
    offenders = {
        module: sorted({name for name in _all_imports(module) if _starts_with(name, forbidden)})
        for module in _modules()
        if (forbidden := FORBIDDEN.get(_layer(module)))
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_sub_commands_do_not_import_each_other():
    offenders = {
        module: sorted(
            name
            for name in _all_imports(module)
            if _starts_with(name, {f"{ROOT}.commands"})
            and name != f"{ROOT}.commands"
            and name not in SHARED_COMMAND_MODULES
        )
        for module in _modules()
        if _layer(module) == "commands"
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_functions_import_only_what_is_heavy_or_circular():
    offenders = []
    for module, path in _modules().items():
        for node in _function_imports(_tree(module)):
            for name in _targets(node)[-1:]:  # the most specific module named
                ours = name.startswith(f"{ROOT}.") and name in _modules()
                if ours and not _is_heavy(name) and module not in _loads_at_import(name):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} imports {name}")
    assert offenders == []


def test_the_rules_see_what_they_check():
    """The helpers find real heavy modules, real cycles and real top-level imports."""
    assert _is_heavy(f"{ROOT}.core.trainer") and _is_heavy(f"{ROOT}.gui.main_window")
    assert not _is_heavy(f"{ROOT}.app.classify") and not _is_heavy(f"{ROOT}.core.runtime")
    assert f"{ROOT}.core.runtime" in _loads_at_import(f"{ROOT}.core.predictor")
    assert f"{ROOT}.core.predictor" in _loads_at_import(f"{ROOT}.app.classify")
    assert any(_targets(node) for node in _function_imports(_tree(f"{ROOT}.cli")))


# ------------------------------------------------------------------------------ start-up


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
        "resnet_desktop.core.library, resnet_desktop.core.weights, resnet_desktop.core.imaging, "
        "resnet_desktop.core.runtime, resnet_desktop.app.classify, resnet_desktop.app.models, "
        "resnet_desktop.app.names, resnet_desktop.app.weights, resnet_desktop.app.startup"
    )
    assert "torch" not in modules


RAY_MODULES = {f"{ROOT}.app.cluster"}  # the driver of ``predict --cluster``


def test_only_the_cluster_driver_imports_ray_and_only_in_functions():
    """Ray is an optional extra: nothing else may need it, nothing may load it at import.

    The code its workers run (app/cluster_workers.py) is plain code, testable without it.
    """
    importers = {
        module
        for module in _modules()
        if any(_starts_with(name, {"ray"}) for name in _all_imports(module))
    }
    assert importers == RAY_MODULES
    at_import = {
        module
        for module in _modules()
        if any(n.split(".")[0] == "ray" for n in _loads_at_import(module))
    }
    assert at_import == set()

"""How the table names a file: its path under the folder it came from, not just its name.

Photo folders repeat names (``0008.jpg`` in every camera folder); a row that shows only
the name cannot be told from another. A file under an opened folder is shown by its path
relative to it (``2023/summer/0008.jpg``), with the folder's name in front when several
folders are listed; a file added on its own keeps its bare name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


class FileNames:
    """The folders the list was filled from, and the label of a path under them."""

    def __init__(self) -> None:
        self._roots: list[Path] = []

    @property
    def roots(self) -> tuple[Path, ...]:
        return tuple(self._roots)

    def set_roots(self, roots: Sequence[Path]) -> None:
        self._roots = []
        for root in roots:
            self.add_root(root)

    def add_root(self, root: Path) -> None:
        """Label files under ``root`` relative to it (absolute, symlinks kept, as scans list)."""
        absolute = Path(os.path.abspath(root))
        if absolute not in self._roots:
            self._roots.append(absolute)

    def label(self, path: Path) -> str:
        for root in self._roots:
            if path.is_relative_to(root) and path != root:
                relative = path.relative_to(root).as_posix()
                return f"{root.name}/{relative}" if len(self._roots) > 1 else relative
        return path.name

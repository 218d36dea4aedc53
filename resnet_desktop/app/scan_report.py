"""What a scan found and skipped, in words: "no images found in …" says what was there.

An empty folder, or one of documents, must not just leave the list empty: the user is
told that no images were found, and how many files were skipped and why (not images,
hidden, unreadable folders), so a wrong folder or a missing format is recognised at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from resnet_desktop.core.imaging import ScanTally

EXTENSIONS_SHOWN = 4


@dataclass(frozen=True)
class ScanSummary:
    """The end of a scan of ``paths``: how many images were found, what was skipped."""

    paths: tuple[Path, ...]
    found: int
    tally: ScanTally

    def skipped(self) -> int:
        return sum(self.tally.not_images.values()) + self.tally.hidden

    def skipped_text(self) -> str:
        """``12 files skipped: 10 not images (.txt, .pdf), 2 hidden``, or ""."""
        reasons = []
        not_images = sum(self.tally.not_images.values())
        if not_images:
            reasons.append(f"{not_images} not images ({_extensions(self.tally)})")
        if self.tally.hidden:
            reasons.append(f"{self.tally.hidden} hidden")
        text = f"{_files(self.skipped())} skipped: {', '.join(reasons)}" if reasons else ""
        if self.tally.unreadable:
            folders = f"{self.tally.unreadable} folder{'s' if self.tally.unreadable > 1 else ''}"
            text += f"{'; ' if text else ''}{folders} could not be read"
        return text

    def message(self) -> str:
        """One line for the window: nothing found (and why), or what was added."""
        skipped = self.skipped_text()
        if self.found:
            return f"{_images(self.found)} added" + (f"; {skipped}" if skipped else "")
        where = str(self.paths[0]) if len(self.paths) == 1 else f"the {len(self.paths)} items"
        return f"No images found in {where}: " + (skipped or "it is empty")


def _extensions(tally: ScanTally) -> str:
    common = [ext or "no extension" for ext, _ in tally.not_images.most_common(EXTENSIONS_SHOWN)]
    more = ", …" if len(tally.not_images) > EXTENSIONS_SHOWN else ""
    return ", ".join(common) + more


def _files(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"


def _images(count: int) -> str:
    return f"{count} image{'s' if count != 1 else ''}"

"""Entry point of the PyInstaller bundle: the same ``resnet-desktop`` command as the wheel's.

``freeze_support`` must run first: the prediction engine may start worker processes, which a
frozen executable starts as copies of itself, and those copies must not open the window.
"""

from __future__ import annotations

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from resnet_desktop.cli import main

    sys.exit(main())

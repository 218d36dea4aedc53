"""``python -m resnet_desktop`` behaves exactly like the ``resnet-desktop`` command."""

import sys

from resnet_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())

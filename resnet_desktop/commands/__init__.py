"""One module per ``resnet-desktop`` sub-command; each exposes ``register(subparsers)``."""

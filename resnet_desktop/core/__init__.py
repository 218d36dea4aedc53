"""The Qt-free core: model table, weights, images, prediction, training, library, export.

Nothing under this package imports PySide6 (``tests/core/test_layering.py`` checks it).
Only the modules that define or train networks (``cifar_resnet``, ``networks``,
``training_data``, ``trainer``) import torch at module level; the rest import it inside
the functions that need it, so the window can list models, read settings and show
fine-tuning options before torch has loaded.
"""

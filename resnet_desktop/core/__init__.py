"""The Qt-free core: model table, weights, images, prediction, training, library, export.

Nothing under this package imports PySide6 (``tests/core/test_layering.py`` checks it),
and nothing imports torch at module level except the modules that exist to run models
(``networks``, ``predictor``, ``trainer``), so the GUI can list models and settings
before torch has loaded.
"""

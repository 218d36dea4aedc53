"""The application layer: use cases that the CLI and the window both call.

It sits between the Qt-free core and the two front ends. It never imports Qt nor a front
end (``commands`` or ``gui``); ``tests/core/test_layering.py`` checks the direction.
"""

"""The Qt layer: windows, item models, workers and the fine-tuning wizard.

Importing the package imports nothing else; ``resnet_desktop.gui.app.run_app`` starts the
window.
"""

"""The fine-tuning wizard: dataset → base model → options → training → review and save.

One module per page (``dataset_page``, ``model_page``, ``options_page``, ``train_page``,
``review_page``); :mod:`.fine_tune_wizard` owns them. Each page edits its part of one
:class:`~resnet_desktop.app.finetune.FineTuneState` (plain data, no Qt). Every long step
runs in a :class:`~resnet_desktop.gui.workers.JobRunner`; closing or cancelling the
wizard stops and joins them, so no thread outlives it; Back from training only abandons
its run, so the window never waits for a batch. torch is imported only when a page needs
the trainer, never when the wizard is imported.
"""

from resnet_desktop.gui.wizard.fine_tune_wizard import FineTuneWizard

__all__ = ["FineTuneWizard"]

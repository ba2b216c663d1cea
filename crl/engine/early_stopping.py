"""Early stopping: keep the weights of the best validation epoch and stop once `train.patience` epochs in a
row have not improved on it. Epochs before the graph schedule is complete neither compete nor count: a graph
that is still dense can score well without being the model we want."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from crl.core.model import CRLModel


@dataclass
class EarlyStopping:
    """The best epoch so far, its weights, and the epochs since it."""

    schedule_steps: int  # steps before which an epoch is not judged
    min_epochs: int  # no stop before this many epochs
    patience: int
    best_epoch: int = -1
    best_validation_loss: float = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    bad_epochs: int = 0

    def judge(self, model: CRLModel, criterion: float, epoch: int, step: int) -> None:
        """Record the epoch's validation loss `criterion`: keep the weights when it improves on the best by more
        than a relative 1e-4, count a bad epoch otherwise."""
        improved = not math.isfinite(self.best_validation_loss) or (
            criterion < self.best_validation_loss - 1e-4 * abs(self.best_validation_loss)
        )
        if step < self.schedule_steps:
            pass  # the graph is still being shaped: its validation loss does not judge the final model
        elif improved:
            self.best_validation_loss = criterion
            self.best_epoch = epoch
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1

    def exhausted(self, epoch: int) -> bool:
        """True when training should stop after `epoch`."""
        return epoch + 1 >= self.min_epochs and self.bad_epochs >= self.patience

    def restore_best(self, model: CRLModel) -> None:
        """Put the best epoch's weights back into `model` (if an epoch was judged at all)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)

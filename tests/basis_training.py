"""Two epochs of training with an image family that fits a basis (pca, wavelet), keeping the first epoch's state
so a test can resume from it and ask whether the basis came back."""

from __future__ import annotations

from pathlib import Path

from cohort_factory import IMAGE, make_cohort

from crl.config import resolve_config
from crl.core.model import build_model
from crl.data.load import load_cohort
from crl.engine.fit import fit


def train_image_family(tmp_path: Path, family: str):
    """(cohort, config, trained model, the training state after epoch 1) on a small colour-image cohort."""
    cohort = load_cohort(make_cohort(tmp_path, n=120, image="npz", image_size=16, colour=True))
    overrides = [f"modalities.{IMAGE}.encoder={family}", f"modalities.{IMAGE}.width=32", "train.epochs=2"]
    config = resolve_config(cohort.schema(), None, [*overrides, "train.min_steps=0"], "cpu", 0)
    states = []

    class Keep:
        def on_epoch(self, info):
            states.append(info["training_state"]())

    model = build_model(config, cohort.schema())
    fit(model, cohort, config, callbacks=[Keep()])
    return cohort, config, model, states[0]

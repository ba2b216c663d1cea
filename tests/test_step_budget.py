"""The default training budget is counted in steps: a small cohort trains as many as a large one."""

from __future__ import annotations

from crl.config import apply_overrides, default_config
from crl.data.cohort import validation_count
from crl.engine.schedules import plan_for_cohort

SCHEMA = {"a": {"kind": "tabular", "shape": [5]}, "b": {"kind": "tabular", "shape": [5]}}


def test_a_small_cohort_trains_more_epochs_to_reach_the_minimum_steps():
    config = default_config(SCHEMA)
    small, large = plan_for_cohort(config, 300), plan_for_cohort(config, 10_000)
    assert config.train.min_steps == 3000
    assert small.total_steps >= 3000 and small.epochs > config.train.epochs
    assert large.epochs == config.train.epochs  # 100 epochs are already more than 3000 steps
    exact = plan_for_cohort(apply_overrides(config, ["train.min_steps=0"]), 300)
    assert exact.epochs == config.train.epochs and exact.total_steps == config.train.epochs


def test_the_announced_plan_counts_the_subjects_training_will_hold_out():
    config = apply_overrides(default_config(SCHEMA), ["train.min_steps=0", "train.batch_size=10"])
    for n in (2, 11, 300, 1001):
        n_train = n - validation_count(n, config.train.validation_fraction)
        assert plan_for_cohort(config, n).steps_per_epoch == max(1, n_train // min(10, n_train))

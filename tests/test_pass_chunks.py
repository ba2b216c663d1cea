"""No-grad passes over many subjects (validation loss, posterior means) chunk by a CPU memory budget (issue 25):
a fixed chunk of 2048 subjects made the validation pass training's peak memory. Chunking must not change what
the passes compute."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cohort_factory import make_cohort

from crl.config import resolve_config
from crl.core.model import build_model
from crl.data.load import load_cohort
from crl.engine import tensors as tensors_module
from crl.engine.encode import posterior_means
from crl.engine.fit import fit
from crl.engine.phases import evaluate
from crl.engine.tensors import CohortTensors

N, SIDE = 300, 32


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cohort = load_cohort(
        make_cohort(tmp_path_factory.mktemp("c"), n=N, image="npz", image_size=SIDE, colour=True)
    )
    overrides = ["train.epochs=1", "train.min_steps=0", "train.batch_size=32", "train.restarts=1"]
    config = resolve_config(cohort.schema(), None, overrides, "cpu", 0)
    model = build_model(config, cohort.schema())
    result = fit(model, cohort, config)
    return model, cohort, result


def _per_subject_bytes(tensors: CohortTensors) -> int:
    values = sum(int(np.prod(t.shape[1:])) for n, t in tensors.data.items() if tensors.kinds[n] == "image")
    return values * 4 * tensors_module.ACTIVATION_COPIES


def test_cpu_chunk_follows_the_budget(trained, monkeypatch):
    model, cohort, result = trained
    tensors = CohortTensors(cohort, result.normaliser, torch.device("cpu"), model.names)
    per_subject = _per_subject_bytes(tensors)
    assert per_subject > 0
    monkeypatch.setattr(tensors_module, "CPU_PASS_BYTES", 7 * per_subject + 1)
    assert tensors.pass_chunk(2048) == 7
    assert tensors.pass_chunk(5) == 5  # never more than asked
    monkeypatch.setattr(tensors_module, "CPU_PASS_BYTES", 1)
    assert tensors.pass_chunk(2048) == 1  # at least one subject
    # The default budget keeps two 64x64 RGB photographs' pass far below 2048 subjects.
    monkeypatch.undo()
    assert tensors_module.CPU_PASS_BYTES // (2 * 64 * 64 * 3 * 4 * tensors_module.ACTIVATION_COPIES) < 512


def test_posterior_means_do_not_depend_on_the_chunk(trained, monkeypatch):
    model, cohort, result = trained
    whole = posterior_means(model, cohort, result.normaliser, batch_size=4096)
    tensors = CohortTensors(cohort, result.normaliser, torch.device("cpu"), model.names)
    monkeypatch.setattr(tensors_module, "CPU_PASS_BYTES", 7 * _per_subject_bytes(tensors) + 1)
    chunked = posterior_means(model, cohort, result.normaliser, batch_size=4096)
    for a, b in zip(whole, chunked, strict=True):
        assert a.shape == b.shape == (N, a.shape[1])
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # equal up to float summation order


def test_validation_loss_chunked_matches_one_pass(trained, monkeypatch):
    model, cohort, result = trained
    tensors = CohortTensors(cohort, result.normaliser, torch.device("cpu"), model.names)
    indices = result.validation_indices
    assert len(indices) > 20
    whole = evaluate(model, tensors, indices, seed=5, batch_size=4096)
    # Within the budget the pass is the same single chunk: the same losses, to the bit.
    assert evaluate(model, tensors, indices, seed=5, batch_size=4096) == whole
    monkeypatch.setattr(tensors_module, "CPU_PASS_BYTES", 7 * _per_subject_bytes(tensors) + 1)
    chunked = evaluate(model, tensors, indices, seed=5, batch_size=4096)
    assert chunked.keys() == whole.keys()
    # In chunks the sampled noise is drawn chunk by chunk: the deterministic terms agree, the total within noise.
    for name in whole:
        assert chunked[name] == pytest.approx(whole[name], rel=0.05, abs=1e-3), name

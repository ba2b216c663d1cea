"""Block unmixing undoes a linear mix inside the blocks, leaves what the model decodes unchanged, runs once at
the warm-up's end (again, identically, on resume) and saves with the run; older runs load without it."""

from __future__ import annotations

from pathlib import Path

import torch
from test_train import _cohort, _config

from crl.analysis.metrics import mcc
from crl.config import apply_overrides
from crl.core.latent_graph import LatentGraph
from crl.core.model import build_model
from crl.core.prior import CausalFlowPrior
from crl.core.unmix import unmix_blocks, unmixed
from crl.data.synthetic import generate
from crl.engine.fit import fit
from crl.engine.warmup import WarmupEvents

torch.set_num_threads(1)


def _remixed_case2(n: int):
    """Paper case 2's true latents (standardised), each block turned by a fixed invertible, non-orthogonal mix."""
    synthetic = generate("paper-case2", n=n, seed=2)
    truth = synthetic.truth.latents.to_numpy()
    truth = (truth - truth.mean(0)) / truth.std(0)
    blocks = synthetic.truth.blocks()
    sizes = [len(v) for v in blocks.values()]
    modality_of = [i for i, k in enumerate(sizes) for _ in range(k)]
    mix = torch.tensor([[1.0, 0.6, 0.0], [0.0, 1.0, -0.5], [0.4, 0.0, 1.0]])
    mixed = unmixed(torch.tensor(truth, dtype=torch.float32), sizes, [mix, mix.T])
    return truth, mixed, sizes, LatentGraph(synthetic.truth.latent_names, modality_of)


def test_unmixing_brings_a_mixed_block_back_towards_its_latents():
    truth, mixed, sizes, graph = _remixed_case2(6000)
    matrices, prior = unmix_blocks(
        mixed,
        graph,
        sizes,
        lambda: CausalFlowPrior(len(truth[0]), 32, 2),
        2,
        torch.Generator().manual_seed(0),
    )
    before = mcc(truth, mixed.numpy()).value
    after = mcc(truth, unmixed(mixed, sizes, matrices).numpy()).value
    assert after > before + 0.02, (before, after)  # +0.04 to +0.08 over generator seeds 0-2
    # Each latent keeps its spread, and the flows handed back fit the unmixed latents.
    assert torch.allclose(unmixed(mixed, sizes, matrices).std(0), mixed.std(0), rtol=1e-3)
    assert isinstance(prior, CausalFlowPrior)


def _two_latent_config(cohort, *extra):
    return _config(
        cohort, "modalities.a.latents=2", "modalities.b.latents=2", "loss.graph_warmup=0.5", *extra
    )


def test_the_unmixing_changes_the_latents_not_what_the_model_decodes():
    cohort = _cohort()
    model = build_model(_two_latent_config(cohort, "prior.unmix=1"), cohort.schema()).eval()
    batch = {name: torch.randn(7, *spec["shape"]) for name, spec in cohort.schema().items()}
    z, _, eta, _ = model.posterior(batch)
    decoded = model.decode(z, eta)
    turn = torch.tensor([[1.0, 0.7], [-0.3, 1.2]])
    model.unmixing.compose("a", turn)
    z_new, _, _, _ = model.posterior(batch)
    torch.testing.assert_close(z_new[:, :2], z[:, :2] @ turn)
    torch.testing.assert_close(z_new[:, 2:], z[:, 2:])
    for name, value in model.decode(z_new, eta).items():
        torch.testing.assert_close(value, decoded[name], rtol=1e-4, atol=1e-4)


def test_training_unmixes_once_at_the_warm_up_end_and_a_resumed_run_repeats_it(monkeypatch):
    import crl.engine.warmup as warmup

    cohort = _cohort()
    config = _two_latent_config(cohort, "train.epochs=4", "prior.unmix=1")
    calls = []
    real = warmup.unmix_blocks
    monkeypatch.setattr(warmup, "unmix_blocks", lambda *a, **k: calls.append(1) or real(*a, **k))

    class StopAfterOneEpoch:
        def on_epoch(self, info):
            self.state = info["training_state"]()
            return info["epoch"] == 0  # before the warm-up's end

    stopper = StopAfterOneEpoch()
    fit(build_model(config, cohort.schema()), cohort, config, callbacks=[stopper])
    assert calls == []
    resumed = build_model(config, cohort.schema())
    fit(resumed, cohort, config, resume=stopper.state)
    assert calls == [1]
    assert not torch.allclose(resumed.unmixing.matrix("a"), torch.eye(2), atol=1e-3)
    whole = build_model(config, cohort.schema())
    fit(whole, cohort, config)
    assert all(torch.equal(v, whole.state_dict()[k]) for k, v in resumed.state_dict().items())

    # The matrices save with the weights; a model configured without unmixing has none (older runs load).
    reloaded = build_model(config, cohort.schema())
    reloaded.load_state_dict(whole.state_dict(), strict=True)
    assert torch.equal(reloaded.unmixing.matrix("b"), whole.unmixing.matrix("b"))
    plain = build_model(apply_overrides(config, ["prior.unmix=0"]), cohort.schema())
    assert plain.unmixing is None and not any("unmixing" in k for k in plain.state_dict())


def test_a_sparsity_path_level_keeps_the_run_s_latents():
    cohort = _cohort()
    config = _two_latent_config(cohort, "prior.unmix=2")
    model = build_model(config, cohort.schema())
    assert WarmupEvents(model, config, 100, 0).unmix_pending
    level = apply_overrides(config, ["loss.graph_warmup=0"])  # what crl.runs.sparsity_path trains
    assert not WarmupEvents(model, level, 100, 0).unmix_pending


def test_a_run_saved_before_block_unmixing_loads_as_it_was_trained():
    from crl.runs.checkpoint import load_run, with_saved_unmixing

    cohort = _cohort()
    config = _two_latent_config(cohort)
    assert config.prior.unmix > 0  # on by default
    before = build_model(apply_overrides(config, ["prior.unmix=0"]), cohort.schema()).state_dict()
    assert with_saved_unmixing(config, before).prior.unmix == 0
    after = build_model(config, cohort.schema()).state_dict()
    assert with_saved_unmixing(config, after) is config
    # The shipped demo was built without it, and its files say so.
    model, shipped, _ = load_run(Path(__file__).resolve().parents[1] / "assets" / "demo" / "run")
    assert shipped.prior.unmix == 0 and model.unmixing is None

"""Every tensor the training path makes names its device, so training on a GPU does not mix CUDA and CPU tensors.

On a GPU the model and data live on CUDA while a tensor made without a device lands on the CPU. CI has no GPU,
so these tests set torch's default device to `meta` and train on the CPU: any tensor made without naming its
device lands on `meta` and the first operation mixing it with the model's tensors fails. (Found on a lent H200:
the graph search built its predecessor mask on the CPU, so every `crl train --device cuda` failed.)
"""

from __future__ import annotations

import pytest
import torch

from crl.cli import main
from crl.config import apply_overrides, default_config
from crl.core.model import CRLModel, build_model
from crl.data.synthetic import generate
from crl.engine.fit import encode_cohort, fit


@pytest.fixture
def tensors_default_to_meta(monkeypatch):
    """Default device `meta` for the test; models are still built on the CPU, as `.to(device)` would move them."""
    build = CRLModel.__init__

    def build_on_cpu(self, *args, **kwargs):
        with torch.device("cpu"):
            build(self, *args, **kwargs)

    monkeypatch.setattr(CRLModel, "__init__", build_on_cpu)
    torch.set_default_device("meta")
    yield
    torch.set_default_device(None)


@pytest.mark.parametrize(
    "preset, overrides",
    [
        ("paper-case1", []),
        ("paper-case1", ["prior.flow=spline", "graph.orientation=pairwise"]),
        ("paper-case3", []),  # more latents than the exact order search takes: the local search
        ("images", []),
        ("images", ["modalities.image_a.encoder=pca", "modalities.image_b.encoder=pca"]),  # a fitted basis
        ("timeseries", []),
        ("paper-case1", ["method=beta-vae"]),
        ("paper-case1", ["method=no-graph"]),
    ],
)
def test_fit_and_encode_make_no_tensor_off_the_model_device(tensors_default_to_meta, preset, overrides):
    cohort = generate(preset, n=200, seed=0).to_cohort()
    config = apply_overrides(
        default_config(cohort.schema()),
        ["train.epochs=3", "train.min_steps=0", "train.device=cpu", *overrides],
    )
    model = build_model(config, cohort.schema())
    result = fit(model, cohort, config)
    latents = encode_cohort(model, cohort, result.normaliser)
    assert all(z.shape[0] == len(cohort) for z in latents.values())


def test_command_line_train_and_refit_make_no_tensor_off_the_model_device(tmp_path, tensors_default_to_meta):
    torch.set_default_device(None)
    assert main(["synth", "paper-case1", "--n", "200", "--out", str(tmp_path / "cohort")]) == 0
    torch.set_default_device("meta")
    run = tmp_path / "run"
    args = [
        *("--set", "train.epochs=3", "--set", "train.min_steps=0", "--set", "train.restarts=2"),
        *("--device", "cpu"),
    ]
    assert main(["train", str(tmp_path / "cohort"), "--out", str(run), *args]) == 0
    assert main(["runs", "refit", str(run), "--sparsity", "0.1"]) == 0
    assert (run / "latents.csv").is_file()

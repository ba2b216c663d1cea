"""The one-batch dry run: loss terms from a freshly built model, and readable errors for settings that cannot work."""

import dataclasses

import pytest
import torch

from crl.analysis.dry_run import check_encoders, dry_run, max_stages
from crl.config import apply_overrides, default_config
from crl.data import load_cohort
from crl.data.synthetic import write_preset
from crl.errors import ConfigError, TrainingError


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    return load_cohort(write_preset("paper-case1", tmp_path_factory.mktemp("c") / "case1", n=120, seed=0))


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return load_cohort(write_preset("timeseries", tmp_path_factory.mktemp("c") / "ts", n=40, seed=0))


def test_reports_every_loss_term_and_their_weighted_sum(tabular):
    config = default_config(tabular.schema())
    report = dry_run(config, tabular, subjects=12)
    assert set(report.terms) >= {
        "reconstruction.m1",
        "reconstruction.m2",
        "reconstruction",
        "likelihood",
        "sparsity",
        "acyclicity",
        "total",
    }
    assert report.terms["reconstruction"] == pytest.approx(
        report.terms["reconstruction.m1"] + report.terms["reconstruction.m2"], rel=1e-5
    )
    assert sum(report.weighted.values()) == pytest.approx(report.terms["total"], rel=1e-5)
    assert report.subjects == 12
    assert report.parameters["m1"] > 0 and report.parameters["graph"] > 0
    assert report.total_parameters == sum(report.parameters.values())
    assert report.device == "cpu" or report.device.startswith("cuda")


def test_weights_scale_the_weighted_terms_not_the_raw_ones(tabular):
    base = default_config(tabular.schema())
    heavy = apply_overrides(base, ["loss.sparsity=1.0", "loss.reconstruction=3"])
    a, b = dry_run(base, tabular), dry_run(heavy, tabular)
    assert a.terms["sparsity"] == pytest.approx(b.terms["sparsity"])
    assert b.weighted["sparsity"] == pytest.approx(1.0 * b.terms["sparsity"])
    assert b.weighted["reconstruction"] == pytest.approx(3 * b.terms["reconstruction"])


def test_same_seed_same_numbers_and_global_rng_untouched(tabular):
    config = default_config(tabular.schema())
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = dry_run(config, tabular)
    assert torch.equal(torch.rand(3), expected)
    assert dry_run(config, tabular).terms == pytest.approx(first.terms)


def test_big_batch_warns(tabular):
    config = apply_overrides(default_config(tabular.schema()), ["train.batch_size=5000"])
    report = dry_run(config, tabular)
    assert any("batch size (5000)" in w for w in report.warnings)


def test_time_series_and_gru_run(series):
    config = default_config(series.schema())
    gru = apply_overrides(
        config,
        [f"modalities.{name}.encoder=gru" for name, m in config.modalities.items() if m.kind == "timeseries"],
    )
    for c in (config, gru):
        report = dry_run(c, series, subjects=8)
        assert report.terms["total"] == report.terms["total"]  # finite, not NaN


def test_too_deep_for_the_series_is_named_with_the_limit(series):
    config = default_config(series.schema())
    name = next(n for n, m in config.modalities.items() if m.kind == "timeseries")
    length = series.schema()[name]["shape"][1]
    limit = max_stages("timeseries", series.schema()[name]["shape"])
    assert 2**limit <= length < 2 ** (limit + 1)
    deep = apply_overrides(config, [f"modalities.{name}.depth={limit + 2}"])
    with pytest.raises(ConfigError) as caught:
        dry_run(deep, series)
    message = str(caught.value)
    assert f"modalities.{name}" in message and f"depth of {limit} or less" in message
    check_encoders(apply_overrides(config, [f"modalities.{name}.depth={limit}"]), series.schema())


def test_image_limit_uses_the_smaller_side():
    assert max_stages("image", [28, 64, 1]) == 4
    assert max_stages("tabular", [15]) is None


def test_modalities_that_differ_from_the_cohort(tabular, series):
    with pytest.raises(ConfigError, match="differ from the cohort"):
        dry_run(default_config(series.schema()), tabular)


def test_missing_gpu_is_a_config_error_with_the_fix(tabular):
    config = apply_overrides(default_config(tabular.schema()), ["train.device=cuda:99"])
    with pytest.raises(ConfigError, match="choose 'auto'"):
        dry_run(config, tabular)


def test_non_finite_data_is_reported(tabular):
    broken = dataclasses.replace(tabular, modalities=dict(tabular.modalities))
    data = broken.modalities["m1"].data.copy()
    data[:, 0] = float("nan")
    broken.modalities["m1"] = dataclasses.replace(broken.modalities["m1"], data=data)
    with pytest.raises(TrainingError, match="missing or non-finite"):
        dry_run(default_config(tabular.schema()), broken)

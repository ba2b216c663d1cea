"""Synthetic cohorts: DAG sampler, mechanisms, mixing, renderers, presets, writer, CLI."""

from __future__ import annotations

import hashlib
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from crl.cli import main
from crl.data.cohort import Cohort
from crl.data.synthetic import (
    PRESETS,
    describe_presets,
    generate,
    sample_dag,
    write_preset,
)
from crl.data.synthetic import writer as writer_module
from crl.data.synthetic.images import ink_centroid, position_to_pixels, render_glyphs, shade_to_unit
from crl.data.synthetic.mechanisms import build_structural_model, sample_noise
from crl.data.synthetic.mixing import random_mixing
from crl.data.truth import load_truth
from crl.errors import ConfigError, CrlError
from crl.graphs.dag import cross_modal_mask, is_acyclic, topological_order
from crl.graphs.names import make_blocks

SMALL_N = 60


def _touches_cross(adjacency: np.ndarray, idx: list[int], cross: np.ndarray) -> bool:
    other = cross[idx[0]]
    return bool(
        adjacency[np.ix_(idx, np.flatnonzero(other))].any()
        or adjacency[np.ix_(np.flatnonzero(other), idx)].any()
    )


# --- DAG sampler -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [[2, 2], [3, 3], [2, 2, 2, 2], [1, 4, 2], [2] * 8])
@pytest.mark.parametrize("cross_density", [0.0, 0.2, 1.0])
def test_dag_is_acyclic_and_every_modality_has_a_cross_edge(sizes, cross_density):
    blocks = make_blocks([f"m{i}" for i in range(len(sizes))], sizes)
    cross = cross_modal_mask(blocks)
    for seed in range(20):
        a = sample_dag(blocks, np.random.default_rng(seed), cross_density=cross_density, within_density=0.5)
        assert a.shape == (sum(sizes), sum(sizes))
        assert is_acyclic(a)
        assert not a.diagonal().any()
        order = topological_order(a)
        position = {v: i for i, v in enumerate(order)}
        assert all(position[i] < position[j] for i, j in np.argwhere(a))
        for idx in blocks.values():
            assert _touches_cross(a, idx, cross)


def test_is_acyclic_detects_a_cycle():
    a = np.zeros((3, 3), dtype=bool)
    a[0, 1] = a[1, 2] = True
    assert is_acyclic(a)
    a[2, 0] = True
    assert not is_acyclic(a)


def _pairs(adjacency: np.ndarray, mask: np.ndarray) -> set[tuple[int, int]]:
    """Unordered latent pairs joined by an edge, restricted to `mask`."""
    return {(min(i, j), max(i, j)) for i, j in np.argwhere(adjacency & mask)}


def test_cross_density_is_monotone_and_nested():
    blocks = make_blocks(["a", "b", "c"], [3, 2, 3])
    cross = cross_modal_mask(blocks)
    n_cross_pairs = int(cross.sum()) // 2
    for seed in range(10):
        previous, within = None, None
        counts = []
        for density in np.linspace(0.0, 1.0, 11):
            a = sample_dag(blocks, np.random.default_rng(seed), cross_density=density, within_density=0.3)
            pairs = _pairs(a, cross)
            counts.append(len(pairs))
            if previous is not None:
                assert previous <= pairs, "a cross-modal pair vanished as the density rose"
                assert _pairs(a, ~cross) == within, "the cross-modal knob changed within-modality pairs"
            previous, within = pairs, _pairs(a, ~cross)
        assert counts == sorted(counts)
        assert counts[-1] == n_cross_pairs  # density 1: every cross-modal pair
        assert counts[0] < counts[-1]


def test_within_density_extremes():
    blocks = make_blocks(["a", "b"], [3, 3])
    cross = cross_modal_mask(blocks)
    none = sample_dag(blocks, np.random.default_rng(1), cross_density=0.5, within_density=0.0)
    full = sample_dag(blocks, np.random.default_rng(1), cross_density=0.5, within_density=1.0)
    assert not (none & ~cross).any()
    assert int((full & ~cross).sum()) == 2 * 3  # a complete DAG inside each 3-latent block


def test_accept_resamples_until_true_and_sees_blocks():
    blocks = make_blocks(["a", "b"], [2, 2])
    seen = []

    def accept(adjacency, got_blocks):
        seen.append(got_blocks)
        return len(seen) >= 3 and adjacency.sum() > 0

    a = sample_dag(blocks, np.random.default_rng(0), accept=accept)
    assert len(seen) == 3
    assert seen[0] == {"a": [0, 1], "b": [2, 3]}
    assert is_acyclic(a)


def test_accept_that_never_passes_raises_a_clear_error():
    blocks = make_blocks(["a", "b"], [2, 2])
    with pytest.raises(CrlError, match="5 attempts"):
        sample_dag(blocks, np.random.default_rng(0), accept=lambda a, b: False, max_attempts=5)


def test_generate_passes_accept_through():
    calls = []

    def accept(adjacency, blocks):
        calls.append(adjacency.copy())
        assert blocks == {"m1": [0, 1], "m2": [2, 3]}
        return len(calls) >= 3

    cohort = generate("paper-case1", n=20, seed=5, accept=accept)
    assert len(calls) == 3
    assert np.array_equal(cohort.model.adjacency, calls[-1])
    assert np.array_equal(
        generate("paper-case1", n=20, seed=5, identifiability="any").model.adjacency, calls[0]
    )


@pytest.mark.parametrize("preset", ["paper-case1", "paper-case2", "paper-case3", "timeseries"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_presets_draw_identifiable_graphs_by_default(preset, seed):
    from crl.graphs.identifiability import check_identifiability

    cohort = generate(preset, n=50, seed=seed)
    blocks = {
        m: [cohort.truth.latent_names.index(n) for n in names] for m, names in cohort.truth.blocks().items()
    }
    assert check_identifiability(cohort.truth.adjacency(), blocks).identified


def test_block_only_preset_violates_the_condition():
    from crl.graphs.identifiability import check_identifiability

    cohort = generate("block-only", n=50, seed=0)
    blocks = {
        m: [cohort.truth.latent_names.index(n) for n in names] for m, names in cohort.truth.blocks().items()
    }
    report = check_identifiability(cohort.truth.adjacency(), blocks)
    assert not report.identified and report.block_only


def test_sampler_rejects_bad_settings():
    blocks = make_blocks(["a", "b"], [2, 2])
    with pytest.raises(ConfigError):
        sample_dag(blocks, np.random.default_rng(0), cross_density=1.5)
    with pytest.raises(ConfigError):
        sample_dag(make_blocks(["a"], [3]), np.random.default_rng(0))


# --- mechanisms and noise ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gaussian", "laplace", "uniform", "mixed"])
def test_noise_is_standardised(kind):
    x = sample_noise(kind, (20000, 3), np.random.default_rng(0))
    assert np.allclose(x.mean(axis=0), 0.0, atol=0.05)
    assert np.allclose(x.std(axis=0), 1.0, atol=0.05)


def test_mechanisms_keep_unit_variance_and_children_depend_on_parents():
    blocks = make_blocks(["a", "b", "c"], [2, 2, 2])
    a = sample_dag(blocks, np.random.default_rng(2), cross_density=0.8, within_density=1.0)
    model = build_structural_model(a, np.random.default_rng(3), noise="laplace", signal=0.6)
    z, noise = model.sample(20000, np.random.default_rng(4))
    assert np.all((z.std(axis=0) > 0.8) & (z.std(axis=0) < 1.25))
    assert np.all(np.abs(z.mean(axis=0)) < 0.1)
    for j in np.flatnonzero(a.any(axis=0)):
        # The part of z_j not explained by its own noise carries ~60 % of its variance (the parents' share).
        explained = z[:, j] - np.sqrt(0.4) * noise[:, j]
        assert 0.45 < explained.var() / z[:, j].var() < 0.75
    for j in np.flatnonzero(~a.any(axis=0)):
        assert np.allclose(z[:, j], noise[:, j])


def test_intervention_fixes_the_latent():
    blocks = make_blocks(["a", "b"], [2, 2])
    a = sample_dag(blocks, np.random.default_rng(0))
    model = build_structural_model(a, np.random.default_rng(1))
    z, _ = model.sample(100, np.random.default_rng(2), do={1: 2.5})
    assert np.all(z[:, 1] == 2.5)


# --- mixing ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("d_in", "d_out"), [(3, 15), (4, 20), (3, 3)])
def test_mixing_is_invertible_and_well_conditioned(d_in, d_out):
    g = random_mixing(d_in, d_out, np.random.default_rng(7), condition=2.0, slope=0.2)
    v = np.random.default_rng(8).standard_normal((500, d_in)) * 2
    x = g(v)
    assert x.shape == (500, d_out)
    assert np.abs(g.inverse(x) - v).max() < 1e-8
    s = np.linalg.svd(g.jacobian(v), compute_uv=False)  # (n, d_in)
    gain3 = np.prod([np.linalg.svd(w, compute_uv=False).min() for w in g.weights])
    top3 = np.prod([np.linalg.svd(w, compute_uv=False).max() for w in g.weights])
    assert s.min() >= gain3 * 0.2**2 * (1 - 1e-9)
    assert s.max() <= top3 * (1 + 1e-9)
    assert (s.max(axis=1) / s.min(axis=1)).max() < 2.0**3 / 0.2**2
    assert 0.2 < x.std() < 5  # outputs stay O(1)


def test_mixing_jacobian_matches_finite_differences():
    g = random_mixing(3, 6, np.random.default_rng(1))
    v = np.random.default_rng(2).standard_normal((5, 3))
    jac = g.jacobian(v)
    eps = 1e-6
    for k in range(3):
        step = np.zeros(3)
        step[k] = eps
        numeric = (g(v + step) - g(v - step)) / (2 * eps)
        assert np.allclose(jac[:, :, k], numeric, atol=1e-5)


def test_mixing_is_nonlinear():
    g = random_mixing(3, 15, np.random.default_rng(0))
    v = np.random.default_rng(1).standard_normal((2000, 3))
    x = g(v)
    design = np.column_stack([v, np.ones(len(v))])
    residual = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    assert residual.var() / x.var() > 0.01  # a linear map would leave nothing


def test_mixing_refuses_to_compress():
    with pytest.raises(ConfigError, match="obs_dim"):
        random_mixing(5, 3, np.random.default_rng(0))


# --- presets and generate -------------------------------------------------------------------------------------


def test_presets_cover_the_brief():
    assert {"paper-case1", "paper-case2", "paper-case3", "paper-case2-sparse", "images", "timeseries"} <= set(
        PRESETS
    )
    text = describe_presets()
    for name in PRESETS:
        assert name in text


@pytest.mark.parametrize(
    ("preset", "modalities", "columns"),
    [("paper-case1", 2, 15), ("paper-case2", 2, 20), ("paper-case3", 4, 30), ("paper-case2-sparse", 2, 20)],
)
def test_paper_cases_have_paper_shapes(preset, modalities, columns):
    c = generate(preset, n=40, seed=0)
    assert len(c.modalities) == modalities
    latents = PRESETS[preset].latents
    for m in c.modalities.values():
        assert m.data.shape == (40, columns) and m.data.dtype == np.float32
        assert m.latents == latents
        assert np.isfinite(m.data).all()
    assert c.truth.latents.shape == (40, modalities * latents)
    assert c.truth.nuisance.shape == (40, modalities)


def test_graph_and_mixing_depend_on_seed_not_on_n():
    small, large = generate("paper-case3", n=30, seed=4), generate("paper-case3", n=90, seed=4)
    assert small.truth.edges == large.truth.edges
    assert np.array_equal(small.modalities["m2"].mixing.weights[0], large.modalities["m2"].mixing.weights[0])
    other = generate("paper-case3", n=30, seed=5)
    assert not np.array_equal(
        small.modalities["m2"].mixing.weights[0], other.modalities["m2"].mixing.weights[0]
    )


def test_removed_fraction_thins_cross_edges():
    counts = []
    for fraction in (0.0, 0.3, 0.6, 0.9):
        c = generate("paper-case2-sparse", n=10, seed=1, removed_fraction=fraction)
        counts.append(len(c.truth.cross_modal_edges()))
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == 9 and counts[-1] >= 1  # 3 x 3 pairs, and modalities always keep an edge


def test_observations_are_the_mixing_of_latents_and_nuisance():
    c = generate("paper-case1", n=200, seed=2)
    z = c.truth.latents.to_numpy()
    eta = c.truth.nuisance.to_numpy()
    v = np.column_stack([z[:, 2:4], eta[:, 1:2]])
    assert np.allclose(c.modalities["m2"].mixing(v), c.modalities["m2"].data, atol=1e-5)


def test_unknown_preset_and_option_are_explained():
    with pytest.raises(CrlError, match="paper-case1"):
        generate("paper-case9")
    with pytest.raises(ConfigError, match="cross_density"):
        generate("paper-case1", n=10, cross_densty=0.3)
    with pytest.raises(ConfigError, match="obs_dim"):
        generate("paper-case1", n=10, obs_dim=2)


def test_to_cohort_matches_the_generated_arrays():
    c = generate("images", n=12, seed=0)
    cohort = c.to_cohort()
    assert isinstance(cohort, Cohort)
    assert cohort.modalities["image_a"].data.shape == (12, 28, 28, 1)
    assert list(cohort.subject_ids) == list(c.truth.latents.index)
    assert cohort.modalities["image_b"].latents == 2


# --- images and time series --------------------------------------------------------------------------------


def test_image_relationships_hold():
    c = generate("images", n=600, seed=3)
    z = c.truth.latents
    a, b = c.modalities["image_a"].data, c.modalities["image_b"].data
    assert a.shape == (600, 28, 28) and a.dtype == np.uint8
    x_centroid, _ = ink_centroid(a, background=46)
    _, y_centroid = ink_centroid(b, background=6)
    assert np.corrcoef(position_to_pixels(z["image_a.z0"]), x_centroid)[0, 1] > 0.9
    assert np.corrcoef(position_to_pixels(z["image_b.z0"]), y_centroid)[0, 1] > 0.9
    # Vertical position of image_a carries nothing about its latents: glyphs sit on the middle row.
    _, y_a = ink_centroid(a, background=46)
    assert abs(np.corrcoef(z["image_a.z0"], y_a)[0, 1]) < 0.2
    peak_a = np.percentile(a.reshape(600, -1), 99.5, axis=1)
    peak_b = np.percentile(b.reshape(600, -1), 99.5, axis=1)
    assert np.corrcoef(shade_to_unit(z["image_a.z1"], 0.25), peak_a)[0, 1] > 0.9
    assert np.corrcoef(shade_to_unit(z["image_b.z1"], 0.25), peak_b)[0, 1] > 0.9
    assert set(c.truth.edges) == {
        ("image_a.z0", "image_a.z1"),
        ("image_a.z0", "image_b.z0"),
        ("image_b.z0", "image_b.z1"),
    }
    # The causal links are visible in the data, not only in the graph.
    assert abs(np.corrcoef(x_centroid, y_centroid)[0, 1]) > 0.3


def test_glyphs_stay_inside_the_frame():
    n = 40
    extreme = np.where(np.arange(n) % 2 == 0, 8.0, -8.0)
    ink = render_glyphs(np.arange(n) % 10, position_to_pixels(extreme), np.full(n, 14.0), np.full(n, 1.5))
    total = render_glyphs(np.arange(n) % 10, np.full(n, 14.0), np.full(n, 14.0), np.full(n, 1.5)).sum(
        axis=(1, 2)
    )
    assert np.all(ink.sum(axis=(1, 2)) > 0.9 * total)


def test_timeseries_relationships_hold():
    c = generate("timeseries", n=400, seed=1)
    s = c.modalities["signals"].data
    z = c.truth.latents
    assert s.shape == (400, 3, 64) and s.dtype == np.float32
    assert c.modalities["labs"].data.shape == (400, 8)
    assert len(c.truth.blocks()["labs"]) == 3
    assert np.corrcoef(s[:, 0].mean(axis=1), z["signals.z2"])[0, 1] > 0.9
    assert np.corrcoef(np.log(s[:, 0].std(axis=1)), z["signals.z0"])[0, 1] > 0.9
    spectrum = np.abs(np.fft.rfft(s[:, 0] - s[:, 0].mean(axis=1, keepdims=True), n=1024, axis=1))
    assert np.corrcoef(spectrum.argmax(axis=1), z["signals.z1"])[0, 1] > 0.9
    assert c.truth.cross_modal_edges()


# --- writer ---------------------------------------------------------------------------------------------------


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_writes_and_its_truth_loads(preset, tmp_path):
    out = write_preset(preset, tmp_path / "cohort", n=SMALL_N, seed=0)
    manifest = tomllib.loads((out / "cohort.toml").read_text())
    assert manifest["name"] == preset and manifest["id"] == "subject_id"
    truth = load_truth(out)
    assert list(truth.latents.index[:2]) == ["S00001", "S00002"]
    assert len(truth.latents) == SMALL_N
    assert list(truth.blocks()) == list(manifest["modalities"])
    for name, entry in manifest["modalities"].items():
        assert (out / entry["path"]).is_file()
        assert len(truth.blocks()[name]) == entry["latents"]
        if entry["kind"] != "tabular":
            with np.load(out / entry["path"], allow_pickle=False) as data:
                key = "images" if entry["kind"] == "image" else "values"
                ids = list(data["ids"])
                # Only the demo leaves a few subjects out of a modality, on purpose; order is kept.
                assert ids == [s for s in truth.latents.index if s in set(ids)]
                assert len(ids) == SMALL_N or (preset == "demo" and len(ids) >= SMALL_N - 3)
                assert data[key].shape[0] == len(ids)
    a = truth.adjacency()
    assert is_acyclic(a)
    assert a.sum() == len(truth.edges) > 0
    assert truth.cross_modal_edges()


def test_same_seed_gives_byte_identical_files(tmp_path):
    for preset in PRESETS:
        first = write_preset(preset, tmp_path / f"{preset}-1", n=SMALL_N, seed=7)
        second = write_preset(preset, tmp_path / f"{preset}-2", n=SMALL_N, seed=7)
        assert _hashes(first) == _hashes(second), preset
        for archive in first.glob("*.npz"):
            with zipfile.ZipFile(archive) as z:  # no wall-clock timestamps inside
                assert {info.date_time for info in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        other = write_preset(preset, tmp_path / f"{preset}-3", n=SMALL_N, seed=8)
        assert _hashes(first)["truth/latents.csv"] != _hashes(other)["truth/latents.csv"]


def test_tabular_csv_has_float_columns(tmp_path):
    import pandas as pd

    out = write_preset("paper-case1", tmp_path / "c", n=25, seed=0)
    frame = pd.read_csv(out / "m1.csv", dtype={"subject_id": str})
    assert list(frame.columns) == ["subject_id"] + [f"x{i}" for i in range(15)]
    assert all(frame[f"x{i}"].dtype == np.float64 for i in range(15))


def test_writer_refuses_a_non_empty_folder_unless_told(tmp_path):
    out = tmp_path / "c"
    out.mkdir()
    write_preset("paper-case1", out, n=10)  # an empty folder is fine
    before = _hashes(out)
    with pytest.raises(CrlError, match="overwrite=True"):
        write_preset("paper-case1", out, n=10, seed=1)
    assert _hashes(out) == before
    write_preset("paper-case1", out, n=10, seed=1, overwrite=True)
    assert _hashes(out) != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_writer_leaves_nothing_when_writing_fails(tmp_path, monkeypatch):
    original = writer_module._write_files

    def failing(cohort, root):
        original(cohort, root)  # a complete folder exists in staging, then something breaks
        raise OSError("disk full")

    monkeypatch.setattr(writer_module, "_write_files", failing)
    with pytest.raises(OSError, match="disk full"):
        write_preset("paper-case1", tmp_path / "c", n=10)
    assert list(tmp_path.iterdir()) == []


def test_writer_keeps_the_old_cohort_when_an_overwrite_fails(tmp_path, monkeypatch):
    out = write_preset("paper-case1", tmp_path / "c", n=10)
    before = _hashes(out)

    def failing(cohort, root):
        raise RuntimeError("boom")

    monkeypatch.setattr(writer_module, "_write_files", failing)
    with pytest.raises(RuntimeError):
        write_preset("paper-case1", out, n=10, seed=3, overwrite=True)
    assert _hashes(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


def test_writer_leaves_nothing_when_generation_fails(tmp_path):
    with pytest.raises(CrlError):
        write_preset("paper-case1", tmp_path / "c", n=10, accept=lambda a, b: False, max_attempts=2)
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_unknown_preset_before_touching_disk(tmp_path):
    with pytest.raises(CrlError, match="valid presets: paper-case1"):
        write_preset("nope", tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


# --- command line ---------------------------------------------------------------------------------------------


def test_cli_synth_writes_a_cohort(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", "timeseries", "--out", str(out), "--n", "30", "--seed", "2"]) == 0
    assert "timeseries" in capsys.readouterr().out
    assert len(load_truth(out).latents) == 30
    # A second run into the same folder is a user error: exit 1, a plain line, no traceback.
    assert main(["synth", "timeseries", "--out", str(out), "--n", "30"]) == 1
    err = capsys.readouterr().err
    assert "not empty" in err and "Traceback" not in err
    assert main(["synth", "bogus", "--out", str(tmp_path / "x")]) == 1
    assert "valid presets" in capsys.readouterr().err


# --- with the rest of the library -----------------------------------------------------------------------------


@pytest.mark.parametrize("preset", list(PRESETS))
def test_written_presets_load_as_the_in_memory_cohort(preset, tmp_path):
    from crl.data.load import load_cohort
    from crl.data.validate import validate_cohort

    out = write_preset(preset, tmp_path / "c", n=SMALL_N, seed=1)
    report = validate_cohort(out)
    assert report.ok, report.format()
    loaded = load_cohort(out)
    expected = generate(preset, n=SMALL_N, seed=1).to_cohort()
    assert loaded.excluded == expected.excluded  # empty except for the demo's deliberately missing subjects
    assert list(loaded.subject_ids) == list(expected.subject_ids)
    assert loaded.schema() == expected.schema()
    for name, m in expected.modalities.items():
        # Tabular values pass through 6-significant-digit CSV text; arrays in .npz are exact.
        np.testing.assert_allclose(loaded.modalities[name].data, m.data, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "preset", ["paper-case1", "paper-case2", "paper-case3", "paper-case2-sparse", "timeseries"]
)
def test_presets_can_sample_only_identifiable_graphs(preset, tmp_path):
    from crl.graphs.identifiability import check_identifiability

    def identified(adjacency, blocks):
        return check_identifiability(adjacency, blocks).identified

    out = write_preset(preset, tmp_path / "c", n=30, seed=3, accept=identified)
    truth = load_truth(out)
    blocks = {m: [truth.latent_names.index(v) for v in names] for m, names in truth.blocks().items()}
    assert check_identifiability(truth.adjacency(), blocks).identified

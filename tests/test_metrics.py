"""Metrics against hand-computed answers: MCC, held-out R², SHD and edge F1."""

import numpy as np
import pytest

from crl.analysis.metrics import map_graph, mcc, mcc_per_block, r2_heldout, shd
from crl.graphs.dag import cross_modal_mask


@pytest.fixture
def latents() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(500, 3))


def test_mcc_spearman_is_one_for_permuted_flipped_monotone_copy(latents):
    z = latents
    est = np.column_stack([np.exp(z[:, 2]), -(z[:, 0] ** 3), np.tanh(z[:, 1])])
    result = mcc(z, est, method="spearman")
    assert result.value == pytest.approx(1.0, abs=1e-12)
    assert result.matching == {0: 1, 1: 2, 2: 0}
    # Pearson sees the nonlinear rescale, so it is strictly below 1 here.
    assert mcc(z, est, method="pearson").value < 0.99


def test_mcc_pearson_is_one_for_affine_rescale(latents):
    z = latents
    est = np.column_stack([3.0 * z[:, 1] + 2.0, -0.5 * z[:, 2], -7.0 * z[:, 0] + 1.0])
    result = mcc(z, est)
    assert result.value == pytest.approx(1.0, abs=1e-12)
    assert result.matching == {0: 2, 1: 0, 2: 1}
    assert result.corr.shape == (3, 3)


def test_mcc_hand_computed_two_by_two():
    # x = (1, 2, 3, 4); y = (1, 3, 2, 4): centred (-1.5, -.5, .5, 1.5) . (-1.5, .5, -.5, 1.5) = 4, norms² 5 -> 0.8.
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([1.0, 3.0, 2.0, 4.0])
    result = mcc(np.column_stack([x, y]), np.column_stack([y, x]))
    assert result.value == pytest.approx(1.0)
    assert result.corr[0, 0] == pytest.approx(0.8)
    assert result.matching == {0: 1, 1: 0}


def test_mcc_rectangular_and_constant_column(latents):
    est = np.column_stack([latents[:, 0], np.ones(len(latents))])
    result = mcc(latents, est)
    assert len(result.matching) == 2
    assert result.corr[:, 1].max() == 0.0
    assert result.matching[0] == 0


def test_mcc_per_block_matches_inside_each_modality(latents):
    rng = np.random.default_rng(1)
    z = np.column_stack([latents, rng.normal(size=(len(latents), 1))])
    est = np.column_stack([z[:, 1], z[:, 0], -z[:, 3], 2 * z[:, 2]])
    true_blocks = {"a": [0, 1], "b": [2, 3]}
    est_blocks = {"a": [0, 1], "b": [2, 3]}
    result = mcc_per_block(z, est, true_blocks, est_blocks)
    assert result.per_block["a"].value == pytest.approx(1.0)
    assert result.per_block["b"].value == pytest.approx(1.0)
    assert result.matching == {0: 1, 1: 0, 2: 3, 3: 2}
    assert result.within_blocks == pytest.approx(1.0)
    assert result.global_.value == pytest.approx(1.0)
    with pytest.raises(ValueError):
        mcc_per_block(z, est, true_blocks, {"a": [0, 1], "c": [2, 3]})


def test_r2_near_one_for_invertible_nonlinear_map_and_near_zero_for_noise():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1200, 2))
    est = np.column_stack([np.tanh(z[:, 0]) + 0.3 * z[:, 0] ** 3 + 0.5 * z[:, 1], np.exp(0.5 * z[:, 1])])
    train, test = np.arange(900), np.arange(900, 1200)
    good = r2_heldout(z, est, train, test)
    assert good.per_latent.shape == (2,)
    assert good.per_latent.min() > 0.95
    noise = r2_heldout(z, rng.normal(size=(1200, 3)), train, test)
    assert abs(noise.mean) < 0.05
    assert noise.per_latent.max() < 0.05


def test_shd_counts_one_each_for_added_missing_reversed_edge():
    true = np.zeros((4, 4), dtype=int)
    true[0, 1] = true[1, 2] = 1  # 0 -> 1 -> 2
    added = true.copy()
    added[2, 3] = 1
    missing = true.copy()
    missing[1, 2] = 0
    reversed_ = true.copy()
    reversed_[0, 1], reversed_[1, 0] = 0, 1
    for est, field_name in [(added, "additions"), (missing, "deletions"), (reversed_, "reversals")]:
        result = shd(true, est)
        assert result.total == 1
        assert getattr(result, field_name) == 1
    assert shd(true, true).total == 0


def test_shd_two_cycle_and_all_three_errors():
    true = np.zeros((3, 3), dtype=int)
    true[0, 1] = 1
    est = np.zeros((3, 3), dtype=int)
    est[0, 1] = est[1, 0] = 1  # an extra direction is an addition, not a reversal
    result = shd(true, est)
    assert (result.additions, result.deletions, result.reversals) == (1, 0, 0)

    true = np.zeros((5, 5), dtype=int)
    true[0, 1] = true[1, 2] = true[3, 4] = 1
    est = np.zeros((5, 5), dtype=int)
    est[1, 0] = 1  # reversed
    est[1, 2] = 1  # correct
    est[0, 4] = 1  # added; 3 -> 4 missing
    result = shd(true, est)
    assert (result.additions, result.deletions, result.reversals, result.total) == (1, 1, 1, 3)
    # Skeleton: true pairs {01, 12, 34}, est pairs {01, 12, 04}: TP 2 -> P = R = 2/3, F1 = 2/3.
    assert result.adjacency_precision == pytest.approx(2 / 3)
    assert result.adjacency_recall == pytest.approx(2 / 3)
    assert result.adjacency_f1 == pytest.approx(2 / 3)
    # Directed: only 1 -> 2 agrees: P = R = 1/3.
    assert result.orientation_precision == pytest.approx(1 / 3)
    assert result.orientation_f1 == pytest.approx(1 / 3)


def test_shd_f1_with_unequal_precision_and_recall():
    true = np.zeros((4, 4), dtype=int)
    true[0, 1] = true[0, 2] = true[0, 3] = true[1, 2] = 1
    est = np.zeros((4, 4), dtype=int)
    est[0, 1] = 1
    est[2, 0] = 1  # reversed: adjacency right, orientation wrong
    result = shd(true, est)
    # Adjacency P = 2/2, R = 2/4 -> F1 = 2 * 1 * .5 / 1.5 = 2/3. Orientation P = 1/2, R = 1/4 -> F1 = 1/3.
    assert result.adjacency_precision == 1.0
    assert result.adjacency_recall == pytest.approx(0.5)
    assert result.adjacency_f1 == pytest.approx(2 / 3)
    assert result.orientation_f1 == pytest.approx(1 / 3)
    assert shd(true, np.zeros_like(true)).adjacency_f1 == 0.0


def test_cross_modal_shd_only_counts_cross_pairs():
    blocks = {"a": [0, 1], "b": [2, 3]}
    true = np.zeros((4, 4), dtype=int)
    true[0, 1] = 1  # within a
    true[1, 2] = 1  # cross
    est = np.zeros((4, 4), dtype=int)
    est[1, 0] = 1  # within reversal
    est[2, 1] = 1  # cross reversal
    est[0, 3] = 1  # cross addition
    mask = cross_modal_mask(blocks, 4)
    assert mask[0, 2] and not mask[0, 1]
    np.testing.assert_array_equal(mask, cross_modal_mask(blocks))
    result = shd(true, est, cross_mask=mask)
    assert result.total == 3
    assert result.cross is not None
    assert (result.cross.additions, result.cross.reversals, result.cross.total) == (1, 1, 2)
    assert "cross" in result.to_dict()


def test_map_graph_uses_matching_then_shd_is_zero(latents):
    true = np.zeros((3, 3), dtype=int)
    true[0, 1] = true[1, 2] = 1
    est_order = [2, 0, 1]  # estimated latent e is true latent est_order[e]
    est_latents = latents[:, est_order]
    est_adj = true[np.ix_(est_order, est_order)]
    matching = mcc(latents, est_latents).matching
    mapped = map_graph(est_adj, matching)
    np.testing.assert_array_equal(mapped, true)
    assert shd(true, mapped).total == 0
    assert shd(true, est_adj).total > 0


def test_map_graph_leaves_unmatched_true_latents_empty():
    est = np.array([[0, 1], [0, 0]])
    out = map_graph(est, {2: 0, 0: 1}, n_true=3)
    assert out[2, 0] == 1
    assert out.sum() == 1
    assert out[1].sum() == 0 and out[:, 1].sum() == 0

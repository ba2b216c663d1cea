"""The structural identifiability check: docs/method.md §5b's chain fails with a witness, distinct signatures pass."""

import itertools
import json

import numpy as np
import pytest

from crl.cli.identifiability import identifiability_cli
from crl.errors import CrlError
from crl.graphs.identifiability import check_identifiability


def _adjacency(names: list[str], edges: list[tuple[str, str]]) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    adj = np.zeros((len(names), len(names)), dtype=int)
    for s, t in edges:
        adj[index[s], index[t]] = 1
    return adj


def _chain():
    """a.z0 -> b.z0 -> b.z1 -> c.z0: b.z0 only receives a cross-modal link, b.z1 only sends one."""
    names = ["a.z0", "b.z0", "b.z1", "c.z0"]
    adj = _adjacency(names, [("a.z0", "b.z0"), ("b.z0", "b.z1"), ("b.z1", "c.z0")])
    return adj, {"a": [0], "b": [1, 2], "c": [3]}, names


def _distinct():
    """Three modalities of 2 latents whose latents each have their own cross-modal neighbours."""
    names = ["a.z0", "a.z1", "b.z0", "b.z1", "c.z0", "c.z1"]
    edges = [("a.z0", "b.z0"), ("a.z1", "b.z1"), ("b.z0", "c.z0"), ("b.z1", "c.z1"), ("a.z0", "a.z1")]
    return _adjacency(names, edges), {"a": [0, 1], "b": [2, 3], "c": [4, 5]}, names


def _oracle_mixable(adj: np.ndarray, blocks: dict[str, list[int]]) -> set[tuple[int, int]]:
    """(i, j) with z_i + c·z_j keeping the count: parents(j) ⊆ parents(i), children(i) ⊆ children(j), cross-modal."""
    owner = {i: b for b, idx in blocks.items() for i in idx}
    n = len(adj)
    cross = np.array([[owner[i] != owner[j] for j in range(n)] for i in range(n)])
    a = (adj != 0) & cross
    out = set()
    for idx in blocks.values():
        for i in idx:
            for j in idx:
                if i != j and np.all(a[:, j] <= a[:, i]) and np.all(a[i] <= a[j]):
                    out.add((i, j))
    return out


def test_chain_fails_with_its_witness():
    adj, blocks, names = _chain()
    report = check_identifiability(adj, blocks, names)
    assert not report.identified
    b = report.modalities["b"]
    assert not b.identified
    assert b.witness is not None
    assert b.witness.mixes == [("b.z0", "b.z1")]
    assert b.witness.support == [[1, 1], [0, 1]]  # b.z0' = b.z0 + c·b.z1
    assert "b.z0 and b.z1 can be mixed without adding a cross-modal link" in b.witness.text
    assert b.block_only == ["b.z0"] and b.pinned == ["b.z1"]
    assert report.modalities["a"].identified and report.modalities["c"].identified
    assert report.cross_links == 2
    assert report.method == "exact"
    text = report.format()
    assert "b (2 latents): only the block is identified" in text
    assert b.witness.text in text
    assert json.loads(json.dumps(report.to_dict()))["modalities"]["b"]["identified"] is False


def test_convention_is_source_row_target_column():
    # Transposing reverses every edge: the modality still fails, but now b.z1 receives the cross-modal link,
    # so b.z1 is the one that can absorb the other.
    adj, blocks, names = _chain()
    report = check_identifiability(adj.T, blocks, names)
    assert report.modalities["b"].block_only == ["b.z1"]


def test_distinct_cross_modal_signatures_pass():
    adj, blocks, names = _distinct()
    report = check_identifiability(adj, blocks, names)
    assert report.identified
    assert all(m.witness is None and not m.block_only for m in report.modalities.values())
    assert report.modalities["b"].supports_checked == 2**2 - 1
    assert "identified one by one" in report.format()


def test_removing_one_link_breaks_a_passing_graph():
    adj, blocks, names = _distinct()
    adj[names.index("a.z1"), names.index("b.z1")] = 0  # a.z1 now has no cross-modal child
    report = check_identifiability(adj, blocks, names)
    assert not report.modalities["a"].identified
    assert report.modalities["a"].block_only == ["a.z1"]


def test_invariant_to_relabelling_latents_and_modalities():
    adj, blocks, names = _chain()
    rng = np.random.default_rng(3)
    for _ in range(4):
        perm = rng.permutation(len(names))  # new index p holds old latent perm[p]
        new_adj = adj[np.ix_(perm, perm)]
        where = {old: new for new, old in enumerate(perm)}
        rename = {"a": "fundus", "b": "sleep", "c": "labs"}
        order = list(rng.permutation(list(blocks)))
        new_blocks = {rename[m]: [where[i] for i in blocks[m]] for m in order}
        new_names = [names[old] for old in perm]
        report = check_identifiability(new_adj, new_blocks, new_names)
        assert report.modalities["sleep"].block_only == ["b.z0"]
        assert {m: r.identified for m, r in report.modalities.items()} == {
            "fundus": True,
            "sleep": False,
            "labs": True,
        }


def test_answer_does_not_depend_on_random_values():
    rng = np.random.default_rng(0)
    for graph in range(5):
        blocks = {"a": [0, 1, 2], "b": [3, 4], "c": [5, 6, 7]}
        adj = (rng.random((8, 8)) < 0.25).astype(int)
        results = []
        for seed in range(4):
            report = check_identifiability(adj, blocks, seed=seed)
            assert report.disagreements == 0
            d = report.to_dict()
            d.pop("seed")
            results.append(d)
        assert all(r == results[0] for r in results), f"graph {graph} depends on the seed"


def test_exact_enumeration_agrees_with_single_remixes_and_closed_form():
    # The module docstring argues single-entry remixes decide everything; check it against full enumeration.
    rng = np.random.default_rng(1)
    for _ in range(12):
        sizes = rng.integers(1, 5, size=3)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        blocks = {f"m{b}": list(range(starts[b], starts[b + 1])) for b in range(3)}
        n = int(starts[-1])
        adj = (rng.random((n, n)) < rng.uniform(0.1, 0.4)).astype(int)
        exact = check_identifiability(adj, blocks, seed=1)
        searched = check_identifiability(adj, blocks, seed=2, max_exact=1)
        assert exact.method == "exact" and (searched.method == "randomised" or max(sizes) == 1)
        for m in blocks:
            assert exact.modalities[m].identified == searched.modalities[m].identified
            assert exact.modalities[m].mixable == searched.modalities[m].mixable
        names = [f"{m}.z{k}" for m, idx in blocks.items() for k in range(len(idx))]
        got = {(names.index(a), names.index(b)) for r in exact.modalities.values() for a, b in r.mixable}
        assert got == _oracle_mixable(adj, blocks)


def _brute_force_violation(adj: np.ndarray, blocks: dict[str, list[int]], rng: np.random.Generator) -> bool:
    """Any joint block-diagonal T (every invertible support, no reduction) that keeps the cross-modal count."""
    n = len(adj)
    owner = np.empty(n, dtype=int)
    for b, idx in enumerate(blocks.values()):
        owner[idx] = b
    cross = owner[:, None] != owner[None, :]
    g = np.where(adj.T != 0, rng.uniform(0.5, 1.5, adj.shape), 0.0)
    np.fill_diagonal(g, 0.0)
    baseline = int(((g != 0) & cross).sum())
    per_block = []
    for idx in blocks.values():
        k = len(idx)
        options = []
        for bits in itertools.product([0, 1], repeat=k * k):
            s = np.array(bits, dtype=bool).reshape(k, k)
            if not any(all(s[i, p[i]] for i in range(k)) for p in itertools.permutations(range(k))):
                continue  # no perfect matching: never invertible
            is_perm = s.sum() == k
            options.append((s, is_perm))
        per_block.append(options)
    for choice in itertools.product(*per_block):
        if all(is_perm for _, is_perm in choice):
            continue
        t = np.zeros((n, n))
        for (s, _), idx in zip(choice, blocks.values(), strict=True):
            t[np.ix_(idx, idx)] = np.where(
                s, rng.uniform(0.5, 1.5, s.shape) * rng.choice([-1, 1], s.shape), 0
            )
        if abs(np.linalg.det(t)) < 1e-6:
            continue
        new = t @ g @ np.linalg.inv(t)
        if int(((np.abs(new) > 1e-9) & cross).sum()) <= baseline:
            return True
    return False


def test_reductions_match_brute_force_over_all_joint_remixes():
    # No diagonal WLOG, both modalities remixed at once: the per-modality check must still give the same answer.
    rng = np.random.default_rng(5)
    blocks = {"a": [0, 1], "b": [2, 3], "c": [4]}
    outcomes = set()
    for _ in range(6):
        adj = (rng.random((5, 5)) < 0.35).astype(int)
        fails = not check_identifiability(adj, blocks).identified
        assert fails == _brute_force_violation(adj, blocks, rng)
        outcomes.add(fails)
    assert outcomes == {True, False}


def test_block_of_one_latent_is_always_identified():
    adj = np.zeros((3, 3), dtype=int)  # no links at all
    report = check_identifiability(adj, {"a": [0], "b": [1], "c": [2]})
    assert report.identified
    adj[0, 1] = adj[1, 2] = 1
    assert check_identifiability(adj, {"a": [0], "b": [1], "c": [2]}).identified


def test_modality_without_cross_modal_links_fails():
    adj = np.zeros((4, 4), dtype=int)
    adj[0, 1] = adj[2, 3] = 1  # only within-modality links
    report = check_identifiability(adj, {"a": [0, 1], "b": [2, 3]})
    assert not report.modalities["a"].identified
    assert "no cross-modal link at all" in report.modalities["a"].witness.text


def test_large_block_uses_randomised_search_and_says_so():
    names = [f"big.z{k}" for k in range(5)] + [f"o.z{k}" for k in range(5)]
    # Each big latent has its own cross-modal child: passes. Then strip one: fails.
    edges = [(f"big.z{k}", f"o.z{k}") for k in range(5)]
    adj = _adjacency(names, edges)
    blocks = {"big": list(range(5)), "o": list(range(5, 10))}
    report = check_identifiability(adj, blocks, names)
    assert report.method == "randomised"
    assert report.modalities["big"].method == "randomised"
    assert report.identified
    assert any("searched, not enumerated" in limit for limit in report.limits)
    adj[0, 5] = 0
    assert not check_identifiability(adj, blocks, names).modalities["big"].identified


def test_bad_blocks_are_user_errors():
    adj = np.zeros((3, 3), dtype=int)
    with pytest.raises(CrlError, match="belong to no modality"):
        check_identifiability(adj, {"a": [0, 1]})
    with pytest.raises(CrlError, match="two modalities"):
        check_identifiability(adj, {"a": [0, 1], "b": [1, 2]})
    with pytest.raises(CrlError, match="square"):
        check_identifiability(np.zeros((2, 3)), {"a": [0, 1]})


def _write_cohort(root, edges):
    (root / "truth").mkdir(parents=True)
    (root / "cohort.toml").write_text(
        'name = "t"\nid = "subject_id"\n[modalities.c]\nkind = "tabular"\npath = "c.csv"\nlatents = 1\n'
        '[modalities.a]\nkind = "tabular"\npath = "a.csv"\nlatents = 1\n'
        '[modalities.b]\nkind = "tabular"\npath = "b.csv"\nlatents = 2\n',
        encoding="utf-8",
    )
    (root / "truth" / "latents.csv").write_text(
        "subject_id,c.z0,a.z0,b.z0,b.z1\ns1,0,0,0,0\n", encoding="utf-8"
    )
    rows = "".join(f"{s},{t}\n" for s, t in edges)
    (root / "truth" / "graph.csv").write_text("source,target\n" + rows, encoding="utf-8")


def test_cli_on_cohort_and_run(tmp_path, capsys):
    chain = [("a.z0", "b.z0"), ("b.z0", "b.z1"), ("b.z1", "c.z0")]
    _write_cohort(tmp_path / "cohort", chain)
    assert identifiability_cli(tmp_path / "cohort", None, as_json=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["identified"] is False
    assert out["block_only"] == ["b.z0"]
    assert list(out["modalities"]) == ["c", "a", "b"]  # manifest order

    run = tmp_path / "run"
    run.mkdir()
    weights = {("a.z0", "b.z0"): 0.9, ("b.z0", "b.z1"): 0.8, ("b.z1", "c.z0"): 0.7, ("a.z0", "b.z1"): 0.3}
    names = ["a.z0", "b.z0", "b.z1", "c.z0"]
    lines = ["source,target,weight"]
    for s in names:
        for t in names:
            if s != t:
                lines.append(f"{s},{t},{weights.get((s, t), 0.0)}")
    (run / "graph.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert identifiability_cli(run, None, as_json=False) == 0
    text = capsys.readouterr().out
    assert "only the block is identified" in text and "weight >= 0.5" in text
    # A lower threshold keeps the 0.3 link a.z0 -> b.z1: b.z1 now has a cross-modal parent, but one that b.z0
    # also has, so b.z0 can still absorb b.z1.
    assert identifiability_cli(run, 0.25, as_json=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["threshold"] == 0.25 and out["cross_links"] == 3
    assert out["block_only"] == ["b.z0"]


def test_cli_rejects_other_folders(tmp_path):
    with pytest.raises(CrlError, match="neither"):
        identifiability_cli(tmp_path, None, as_json=False)
    with pytest.raises(CrlError, match="not a folder"):
        identifiability_cli(tmp_path / "missing", None, as_json=False)
    (tmp_path / "graph.csv").write_text("source,target,weight\nx,y,1\n", encoding="utf-8")
    with pytest.raises(CrlError, match="<modality>.z<k>"):
        identifiability_cli(tmp_path, None, as_json=False)
    (tmp_path / "graph.csv").write_text("from,to\n", encoding="utf-8")
    with pytest.raises(CrlError, match="lacks columns"):
        identifiability_cli(tmp_path, None, as_json=False)

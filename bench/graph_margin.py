"""How many nats separate the true graph from the best wrong one once each block is remixed (issue 22).

What is left on paper case 2 is a linear mix inside each modality's block, which the likelihood undoes under
the true graph but not under the learnt one (bench/results/FINDINGS.md, session 8). Sparsity can only pick the
truth if every wrong graph, fitted with its own best unmixing, explains the latents worse by more than the
edges it saves are priced at. This measures that margin on the true latents, with no encoders:

1. each block of a cohort's true latents (standardised) is remixed by a random invertible matrix (singular
   values 0.5 to 1.5, between two random rotations);
2. for each candidate graph, an invertible matrix per block and fresh flows (the engine's CausalFlowPrior) are
   fitted under that fixed graph by maximum likelihood on `n` subjects, log|det| included, from two starts
   (the remixed latents as they are, and the oracle unmixing); the better held-out NLL of the two counts;
3. candidates: the truth; every acyclic graph one edge away from it (an edge deleted, reversed or added); and
   what the engine's order search finds on the remixed latents at its default edge cost (0.1 nats per
   cross-modal edge) and at a tenth of it, before and after one round of unmixing under the graph found.

A graph's score is its held-out NLL plus a price per edge, c for a cross-modal edge and c/10 for one within a
modality (the engine's ratio). The truth scores best exactly for c inside a window: above every denser
graph's gain per weighted edge, below every sparser graph's loss per weighted edge. An empty window means the
truth cannot be reached by any price; `--n` sets the cohort size the answer is for.

    python bench/graph_margin.py                         # paper-case2, cohorts 0-4, n = 10 000
    python bench/graph_margin.py --seeds 4 --steps 600   # a quick look at one cohort
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from dataclasses import dataclass

import numpy as np
import torch
from _common import RESULTS, invocation, save_runs

from crl.analysis.metrics import mcc
from crl.core.graph_search import search_order
from crl.core.latent_graph import LatentGraph
from crl.core.prior import CausalFlowPrior
from crl.core.unmix import unmixed
from crl.data.synthetic import generate

WITHIN_RATIO = 0.1  # the engine prices a within-modality edge at a tenth of a cross-modal one


def random_mixing(k: int, generator: torch.Generator) -> torch.Tensor:
    """A random invertible `(k, k)` matrix, singular values 0.5 to 1.5: a linear mix a rotation cannot undo."""
    q1, _ = torch.linalg.qr(torch.randn(k, k, generator=generator))
    q2, _ = torch.linalg.qr(torch.randn(k, k, generator=generator))
    singular = 0.5 + torch.rand(k, generator=generator)
    return q1 @ torch.diag(singular) @ q2


def is_acyclic(adjacency: np.ndarray) -> bool:
    a = adjacency.astype(bool).copy()
    alive = np.ones(len(a), dtype=bool)
    while alive.any():
        sources = alive & ~a[alive].any(axis=0)  # alive latents with no parent left
        if not sources.any():
            return False
        alive &= ~sources
        a[sources] = False
    return True


def neighbours(truth: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Every acyclic graph one edit from `truth`: each edge deleted, each edge reversed, each absent edge added."""
    out = []
    n = len(truth)
    for i, j in itertools.permutations(range(n), 2):
        g = truth.copy()
        if truth[i, j]:
            g[i, j] = False
            out.append((f"delete {i}->{j}", g.copy()))
            g[j, i] = True
            if is_acyclic(g):
                out.append((f"reverse {i}->{j}", g))
        elif not truth[j, i]:
            g[i, j] = True
            if is_acyclic(g):
                out.append((f"add {i}->{j}", g))
    return out


class Fit:
    """Per-block unmixing matrices and fresh flows, fitted by maximum likelihood under one fixed graph."""

    def __init__(self, sizes: list[int], starts: list[torch.Tensor], gates: torch.Tensor, seed: int):
        torch.manual_seed(seed)
        self.sizes, self.gates = sizes, gates
        self.blocks = [torch.nn.Parameter(s.clone()) for s in starts]
        self.prior = CausalFlowPrior(sum(sizes), 32, 2)

    def unmix(self, z: torch.Tensor) -> torch.Tensor:
        return unmixed(z, self.sizes, self.blocks)

    def nll(self, z: torch.Tensor) -> torch.Tensor:
        """Per-subject NLL `(batch,)` of `z` under the graph, the unmixing's log|det| included."""
        log_det = sum(torch.linalg.slogdet(u)[1] for u in self.blocks)
        return -(self.prior.log_prob(self.unmix(z), self.gates) + log_det)

    def train(self, z: torch.Tensor, steps: int, batch: int = 512) -> None:
        optimizer = torch.optim.Adam([*self.blocks, *self.prior.parameters()], lr=3e-3)
        decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        for _ in range(steps):
            chosen = torch.randint(len(z), (batch,))
            loss = self.nll(z[chosen]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            decay.step()


def searched_graph(z: torch.Tensor, names, modality_of, cost: float, steps: int, seed: int) -> np.ndarray:
    """The engine's order search on `z`: flows trained under random graphs, then the sparsest order at
    `cost` nats per cross-modal edge (a tenth of it within a modality)."""
    torch.manual_seed(seed)
    graph = LatentGraph(names, modality_of, initial_strength=0.5)
    prior = CausalFlowPrior(len(names), 32, 2)
    optimizer = torch.optim.Adam(prior.parameters(), lr=3e-3)
    for _ in range(steps):
        chosen = torch.randint(len(z), (512,))
        gates = graph.sample_gates(512, mode="hard")
        loss = -prior.log_prob(z[chosen], gates).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _, kept, _ = search_order(prior, graph, z[:4096], cross_cost=cost, within_cost=cost * WITHIN_RATIO)
    return (kept.numpy() > 0.5) & graph.free_mask.numpy().astype(bool)


@dataclass
class Remixed:
    """A cohort's standardised true latents `truth` `(2n, d)` and the same with every block remixed, `mixed`."""

    truth: np.ndarray
    mixed: torch.Tensor
    mixings: list[torch.Tensor]
    names: list[str]
    modality_of: list[int]
    sizes: list[int]
    cross: np.ndarray  # (d, d) bool: the pair sits in two modalities
    adjacency: np.ndarray  # (d, d) bool: the true graph

    def split(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The remixed latents as (fitted: 80 % of the first n, scored: the other 20 %, tested: the last n)."""
        cut = int(0.8 * n)
        return self.mixed[:cut], self.mixed[cut:n], self.mixed[n:]

    def weighted(self, adj: np.ndarray) -> float:
        """Edges as the engine prices them: cross-modal ones plus `WITHIN_RATIO` of within-modality ones."""
        return float((adj & self.cross).sum() + WITHIN_RATIO * (adj & ~self.cross).sum())


def remixed(preset: str, seed: int, n: int) -> Remixed:
    """`2n` subjects of cohort `seed`, each block turned by `random_mixing` (seeded by the cohort, so every
    benchmark that imports this remixes a cohort the same way)."""
    synthetic = generate(preset, n=2 * n, seed=seed)
    truth = synthetic.truth.latents.to_numpy()
    truth = (truth - truth.mean(0)) / truth.std(0)
    names = synthetic.truth.latent_names
    blocks = synthetic.truth.blocks()
    modality_of = [list(blocks).index(name.split(".")[0]) for name in names]
    sizes = [len(v) for v in blocks.values()]
    generator = torch.Generator().manual_seed(1000 + seed)
    mixings = [random_mixing(k, generator) for k in sizes]
    mixed = unmixed(torch.tensor(truth, dtype=torch.float32), sizes, mixings)
    return Remixed(
        truth=truth,
        mixed=mixed,
        mixings=mixings,
        names=names,
        modality_of=modality_of,
        sizes=sizes,
        cross=np.array([[a != b for b in modality_of] for a in modality_of]),
        adjacency=synthetic.truth.adjacency().astype(bool),
    )


def run_cohort(preset: str, seed: int, n: int, steps: int) -> dict:
    cohort = remixed(preset, seed, n)
    fit_z, held_z = cohort.mixed[:n], cohort.mixed[n:]
    identity = [torch.eye(k) for k in cohort.sizes]
    oracle = [torch.linalg.inv(m) for m in cohort.mixings]

    def fitted(adj: np.ndarray) -> dict:
        gates = torch.tensor(adj, dtype=torch.float32)
        results = []
        for start_name, start in (("remixed", identity), ("oracle", oracle)):
            fit = Fit(cohort.sizes, start, gates, seed)
            fit.train(fit_z, steps)
            with torch.no_grad():
                per_subject = fit.nll(held_z)
                unmixed = fit.unmix(held_z).numpy()
            results.append(
                {
                    "start": start_name,
                    "nll": float(per_subject.mean()),
                    "per_subject": per_subject,
                    "mcc": mcc(cohort.truth[n:], unmixed).value,
                }
            )
        best = min(results, key=lambda r: r["nll"])
        return {**best, "mcc_from_remixed": results[0]["mcc"]}

    started = time.perf_counter()
    candidates = [("truth", cohort.adjacency)] + neighbours(cohort.adjacency)
    for cost in (0.1, 0.01):
        found = searched_graph(fit_z, cohort.names, cohort.modality_of, cost, steps, seed)
        candidates.append((f"search at {cost}", found))
        gates = torch.tensor(found, dtype=torch.float32)
        fit = Fit(cohort.sizes, identity, gates, seed)
        fit.train(fit_z, steps)
        with torch.no_grad():
            unmixed = fit.unmix(fit_z)
        again = searched_graph(unmixed, cohort.names, cohort.modality_of, cost, steps, seed)
        candidates.append((f"search at {cost}, after unmixing", again))
    unique: dict[bytes, tuple[str, np.ndarray]] = {}
    for label, adj in candidates:
        key = adj.astype(bool).tobytes()
        if key in unique:
            unique[key] = (unique[key][0] + f" = {label}", unique[key][1])
        else:
            unique[key] = (label, adj.astype(bool))
    rows, truth_fit = [], None
    for label, adj in unique.values():
        result = fitted(adj)
        if label.startswith("truth"):
            truth_fit = result
        rows.append({"label": label, "adj": adj, **result})
        print(f"  seed {seed} {label:40s} NLL {result['nll']:.4f} MCC {result['mcc']:.3f}", flush=True)
    truth_edges = cohort.weighted(cohort.adjacency)
    graphs = []
    for row in rows:
        diff = (row["per_subject"] - truth_fit["per_subject"]).numpy()
        graphs.append(
            {
                "label": row["label"],
                "is_truth": row["label"].startswith("truth"),
                "edges": int(row["adj"].sum()),
                "cross_edges": int((row["adj"] & cohort.cross).sum()),
                "weighted_edges_minus_truth": cohort.weighted(row["adj"]) - truth_edges,
                "gap": float(diff.mean()),
                "gap_se": float(diff.std(ddof=1) / np.sqrt(len(diff))),
                "nll": row["nll"],
                "start": row["start"],
                "mcc": row["mcc"],
                "mcc_from_remixed": row["mcc_from_remixed"],
                "shd_to_truth": int((row["adj"] != cohort.adjacency).sum()),
            }
        )
    lower, upper, equal_size_winners = 0.0, np.inf, []
    for g in graphs:
        if g["is_truth"]:
            continue
        delta = g["weighted_edges_minus_truth"]
        if delta > 0:
            lower = max(lower, -g["gap"] / delta)
        elif delta < 0:
            upper = min(upper, g["gap"] / -delta)
        elif g["gap"] <= 0:
            equal_size_winners.append(g["label"])
    return {
        "preset": preset,
        "seed": seed,
        "n": n,
        "steps": steps,
        "true_edges": int(cohort.adjacency.sum()),
        "true_cross_edges": int((cohort.adjacency & cohort.cross).sum()),
        "window": [lower, None if np.isinf(upper) else upper],
        "reachable": bool(lower < upper and not equal_size_winners),
        "equal_size_winners": equal_size_winners,
        "graphs": graphs,
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="paper-case2")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="cohort seeds, comma-separated")
    parser.add_argument("--n", type=int, default=10_000, help="subjects fitted (as many again held out)")
    parser.add_argument("--steps", type=int, default=3000, help="Adam steps per fit (batch 512)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--name", default="graph_margin", help="results file name in bench/results (no suffix)"
    )
    parser.add_argument(
        "--merge", help="comma-separated results names to merge into --name instead of running"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.merge:
        parts = [json.loads((RESULTS / f"{name}.json").read_text()) for name in args.merge.split(",")]
        rows = sorted((r for part in parts for r in part["runs"]), key=lambda r: r["seed"])
        commands = [invocation("graph_margin.py")] + [_command_of(part["args"]) for part in parts]
        args = argparse.Namespace(**{**parts[0]["args"], "merge": args.merge, "name": args.name})
        save_runs(args.name, args, rows)
        write_markdown(args, rows, commands)
        return
    rows = [run_cohort(args.preset, int(s), args.n, args.steps) for s in args.seeds.split(",")]
    save_runs(args.name, args, rows)
    write_markdown(args, rows)


def _price(value: float | None) -> str:
    return "none" if value is None else f"{value:.4f}"


def _closest(g: dict | None) -> str:
    if g is None:
        return "—"
    return f"{g['label']}: {g['gap']:+.4f} ± {g['gap_se']:.4f}, {g['weighted_edges_minus_truth']:+.1f}"


def _command_of(args: dict) -> str:
    return f"python bench/graph_margin.py --seeds {args['seeds']} --n {args['n']} --steps {args['steps']} --name {args['name']}"


def write_markdown(args, rows: list[dict], commands: list[str] | None = None) -> None:
    commands = commands or [invocation("graph_margin.py")]
    lines = [
        "# The margin between the true graph and the best wrong one, blocks remixed",
        "",
        "Commands: " + "; ".join(f"`{c}`" for c in commands) + "  ",
        f"Machine: {platform.machine()}, {args.threads} torch thread(s), torch {torch.__version__}.  ",
        f"{args.preset}, {args.n} subjects fitted and {args.n} held out, {args.steps} Adam steps per fit, two "
        "starts per graph (remixed, oracle), the better held-out NLL kept. Gap: held-out NLL of the graph minus "
        "the truth's, nats per subject (± paired standard error); Δedges: cross-modal edges plus a tenth of "
        "within-modality ones, minus the truth's. The truth wins for a cross-modal edge price c inside the "
        "window.",
        "",
        "| cohort | true edges (cross) | price window for c | truth reachable | sparser graph closest: gap, Δedges "
        "| denser graph closest: gap, Δedges |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        others = [g for g in r["graphs"] if not g["is_truth"]]
        sparser = [g for g in others if g["weighted_edges_minus_truth"] < 0]
        denser = [g for g in others if g["weighted_edges_minus_truth"] > 0]
        s = min(sparser, key=lambda g: g["gap"] / -g["weighted_edges_minus_truth"], default=None)
        d = max(denser, key=lambda g: -g["gap"] / g["weighted_edges_minus_truth"], default=None)
        s_cell, d_cell = _closest(s), _closest(d)
        low, high = r["window"]
        lines.append(
            f"| {r['seed']} | {r['true_edges']} ({r['true_cross_edges']}) | {low:.4f} to {_price(high)} | "
            f"{'yes' if r['reachable'] else 'no'} | {s_cell} | {d_cell} |"
        )
    lines += [
        "",
        "Every graph fitted, per cohort (MCC of the unmixed held-out latents against the truth: the "
        "better start's, and from the remixed start):",
        "",
    ]
    for r in rows:
        lines += [
            f"## Cohort {r['seed']} ({r['seconds']:.0f} s)",
            "",
            "| graph | edges (cross) | Δedges | gap ± se | MCC (better start) | MCC from remixed |",
            "|---|---|---|---|---|---|",
        ]
        for g in sorted(r["graphs"], key=lambda g: g["gap"]):
            lines.append(
                f"| {g['label']} | {g['edges']} ({g['cross_edges']}) | {g['weighted_edges_minus_truth']:+.1f} | "
                f"{g['gap']:+.4f} ± {g['gap_se']:.4f} | {g['mcc']:.3f} ({g['start']}) | {g['mcc_from_remixed']:.3f} |"
            )
        lines.append("")
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Graph and unmixing searched together, from several starts: does that reach case 2's truth (issue 22)?

bench/unmix_starts.py found two obstacles on case 2's remixed blocks: under a fixed graph the unmixing has
local optima (random starts help), and a graph searched on mixed latents is itself wrong. A fixed graph also
pins each latent's role, so a start whose block holds the right latents in another order must rotate them
through each other to fit it. Here every start gets its own graph instead: from each start (the remixed
latents, and `--starts` random orthogonal turns of each block) the engine's order search runs on the latents
as that start unmixes them, the unmixing and fresh flows are fitted under the graph found, and the two
alternate for `--rounds` rounds. Each start ends with a held-out score, NLL + c per cross-modal edge (c/10
within a modality), and the lowest score is kept. MCC and SHD of the kept start are measured on further
subjects, for each edge price c.

    python bench/joint_starts.py                          # paper-case2, cohorts 0-4
    python bench/joint_starts.py --seeds 4 --starts 2 --steps 600   # a quick look
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from _common import RESULTS, invocation, save_runs
from graph_margin import Fit, Remixed, remixed, searched_graph

from crl.analysis.metrics import mcc
from crl.core.unmix import unmixed


def pair_shd(found: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> int:
    """Pairs whose edge differs (missing, extra or reversed: one each) among the pairs in `mask`."""
    differs = (found != truth) | (found.T != truth.T)
    return int((np.triu(differs, 1) & np.triu(mask, 1)).sum())


def in_truth_order(graph: np.ndarray, matching: dict[int, int]) -> np.ndarray:
    """`graph` over estimated latents, re-indexed by the true latent each is matched to (the MCC matching):
    an unmixing may return a block's latents in another order."""
    order = [matching[i] for i in range(len(graph))]
    return graph[np.ix_(order, order)]


def one_start(data, fit_z, score_z, test_z, start, cost: float, rounds: int, steps: int, seed: int) -> dict:
    """Alternate search and unmixing from `start`; the held-out score, MCC and graph where it ends."""
    unmixing = start
    trace = []
    for round_index in range(rounds):
        with torch.no_grad():
            current = unmixed(fit_z, data.sizes, unmixing)
        graph = searched_graph(current, data.names, data.modality_of, cost, steps, seed + round_index)
        fit = Fit(data.sizes, unmixing, torch.tensor(graph, dtype=torch.float32), seed + round_index)
        fit.train(fit_z, steps)
        unmixing = [u.detach().clone() for u in fit.blocks]
        with torch.no_grad():
            nll = float(fit.nll(score_z).mean())
            matched = mcc(data.truth[-len(test_z) :], fit.unmix(test_z).numpy())
        value = matched.value
        trace.append(round(value, 4))
    mapped = in_truth_order(graph, matched.matching)
    return {
        "score": nll + cost * data.weighted(graph),
        "nll": nll,
        "mcc": value,
        "trace": trace,
        "cross_edges": int((graph & data.cross).sum()),
        "matched_shd_cross": pair_shd(mapped, data.adjacency, data.cross),
        "matched_shd": pair_shd(mapped, data.adjacency, np.ones_like(data.cross)),
    }


def random_starts(sizes: list[int], count: int, seed: int) -> list[list[torch.Tensor]]:
    """The identity and `count` random orthogonal turns of each block."""
    turns = torch.Generator().manual_seed(2000 + seed)
    starts = [[torch.eye(k) for k in sizes]]
    for _ in range(count):
        starts.append([torch.linalg.qr(torch.randn(k, k, generator=turns))[0] for k in sizes])
    return starts


def search_from_starts(data: Remixed, n: int, args, seed: int) -> dict:
    """Every start of `random_starts`, searched and unmixed in turn at each price; the kept start per price."""
    fit_z, score_z, test_z = data.split(n)
    starts = random_starts(data.sizes, args.starts, seed)
    out = {"seed": seed, "true_cross": int((data.adjacency & data.cross).sum()), "costs": {}}
    for cost in args.costs:
        began = time.perf_counter()
        fits = [
            one_start(data, fit_z, score_z, test_z, s, cost, args.rounds, args.steps, seed + 10 * i)
            for i, s in enumerate(starts)
        ]
        picked = min(fits, key=lambda f: f["score"])
        out["costs"][str(cost)] = {
            "fits": fits,
            "picked": picked,
            "first": fits[0],
            "best_mcc": max(f["mcc"] for f in fits),
            "seconds": time.perf_counter() - began,
        }
        print(
            f"seed {seed} cost {cost}: first start MCC {fits[0]['mcc']:.3f}, picked {picked['mcc']:.3f} "
            f"(cross SHD {picked['matched_shd_cross']}), best {max(f['mcc'] for f in fits):.3f}",
            flush=True,
        )
    return out


def cohort(args, seed: int) -> dict:
    return {
        "preset": args.preset,
        **search_from_starts(remixed(args.preset, seed, args.n), args.n, args, seed),
    }


def command_of(script: str, args: dict) -> str:
    """The command line that produced a results file, from the arguments it saved."""
    costs = ",".join(str(c) for c in args["costs"])
    return (
        f"python bench/{script} --seeds {args['seeds']} --steps {args['steps']} --rounds {args['rounds']} "
        f"--starts {args['starts']} --costs {costs} --name {args['name']}"
    )


def merge(script: str, names: str, name: str) -> None:
    """Join the results files `names` (comma-separated, as run side by side) into bench/results/<name>."""
    parts = [json.loads((RESULTS / f"{part}.json").read_text()) for part in names.split(",")]
    rows = sorted((r for part in parts for r in part["runs"]), key=lambda r: r["seed"])
    commands = [command_of(script, part["args"]) for part in parts] + [invocation(script)]
    args = argparse.Namespace(**{**parts[0]["args"], "merge": names, "name": name})
    save_runs(name, args, rows)
    write_markdown(args, rows, commands)


def write_markdown(args, rows: list[dict], commands: list[str] | None = None) -> None:
    engine = "engine_mcc" in rows[0]
    script = "joint_on_trained.py" if engine else "joint_starts.py"
    # Runs before the graph was re-indexed by the MCC matching compared unmatched latents: no SHD for them.
    graphs = "matched_shd" in rows[0]["costs"][next(iter(rows[0]["costs"]))]["picked"]
    lines = [
        "# Graph and unmixing searched together from several starts ("
        + ("on the trained engine's posterior means" if engine else "the true latents, each block remixed")
        + ")",
        "",
        "Commands: " + "; ".join(f"`{c}`" for c in commands or [invocation(script)]) + "  ",
        f"Machine: {platform.machine()}, {args.threads} torch thread(s), torch {torch.__version__}.  ",
        f"{args.preset}, {args.n} subjects (80 % fitted, 20 % scored), MCC on {args.n} more; the latents as they are "
        f"and {args.starts} random orthogonal turns; {args.rounds} rounds of order search then unmixing, "
        f"{args.steps} steps each; the start with the lowest held-out NLL + c per weighted edge is kept.",
        "",
        "| cohort | edge price c | "
        + ("engine's MCC | " if engine else "")
        + "MCC, first start | MCC, kept start | best MCC of any start | "
        "kept: cross-modal edges (truth) | "
        + ("kept: cross-modal SHD | kept: SHD | " if graphs else "")
        + "seconds |",
        "|---|---|---|---|---|---|---|" + ("---|" if engine else "") + ("---|---|" if graphs else ""),
    ]
    for r in rows:
        for cost, g in r["costs"].items():
            p = g["picked"]
            lines.append(
                f"| {r['seed']} | {cost} | "
                + (f"{r['engine_mcc']:.3f} | " if engine else "")
                + f"{g['first']['mcc']:.3f} | {p['mcc']:.3f} | {g['best_mcc']:.3f} | "
                f"{p['cross_edges']} ({r['true_cross']}) | "
                + (f"{p['matched_shd_cross']} | {p['matched_shd']} | " if graphs else "")
                + f"{g['seconds']:.0f} |"
            )
    lines.append("")
    if not graphs:
        lines.append(
            "- No SHD: this run compared its graphs to the truth's without matching the latents first, "
            "and an unmixing may return a block's latents in another order."
        )
    if engine:
        lines.append(f"- the engine as trained: mean MCC {np.mean([r['engine_mcc'] for r in rows]):.3f}.")
    for cost in rows[0]["costs"]:
        first = np.mean([r["costs"][cost]["first"]["mcc"] for r in rows])
        picked = np.mean([r["costs"][cost]["picked"]["mcc"] for r in rows])
        best = np.mean([r["costs"][cost]["best_mcc"] for r in rows])
        lines.append(
            f"- price {cost}: mean MCC first start {first:.3f}, kept start {picked:.3f}, best start {best:.3f}."
        )
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")


def parse_arguments(doc: str, name: str, extra=None) -> argparse.Namespace:
    """The search's command-line options, shared with bench/joint_on_trained.py; `extra` adds its own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper-case2")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--starts", type=int, default=8, help="random orthogonal starts besides the latents as they are"
    )
    parser.add_argument("--costs", type=lambda s: [float(c) for c in s.split(",")], default=[0.02])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default=name)
    parser.add_argument(
        "--merge", help="comma-separated results names to join into --name instead of running"
    )
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def main() -> None:
    args = parse_arguments(__doc__, "joint_starts", lambda p: p.add_argument("--n", type=int, default=10_000))
    if args.merge:
        merge("joint_starts.py", args.merge, args.name)
        return
    rows = [cohort(args, int(s)) for s in args.seeds.split(",")]
    save_runs(args.name, args, rows)
    write_markdown(args, rows)


if __name__ == "__main__":
    main()

"""Server time of a threshold redraw on the Latent graph page with 30 latents; writes bench/results/ui.md.

The redraw path is what the page's fragment runs when the slider moves: the cached graph and names, the
thresholded adjacency, the identifiability check (cached per adjacency, so a threshold seen before is free),
node hover text (cached), and the network page. Measured cold (every threshold new to the cache) and warm
(the same thresholds again), for 30 latents as 10 modalities x 3 (exact check) and 6 x 5 (randomised check),
plus the adjacency heatmap and a whole AppTest rerun of the page after a slider move for scale.

Run alone (timings on 2 shared cores vary by about 30 %): python bench/ui.py
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._common import summary, timed  # noqa: E402

OUT = ROOT / "bench" / "results" / "ui.md"
BUDGET_MS = 150.0
THRESHOLDS = np.round(np.linspace(0.05, 0.95, 19), 3)


def make_run(folder: Path, modalities: int, per: int, seed: int = 0) -> Path:
    """A run folder with `modalities * per` latents, 400 subjects and a sparse random graph (weights in [0, 1])."""
    rng = np.random.default_rng(seed)
    names = [f"mod{m}.z{k}" for m in range(modalities) for k in range(per)]
    ids = [f"s{i:04d}" for i in range(400)]
    folder.mkdir(parents=True)
    pd.DataFrame(rng.normal(size=(400, len(names))), columns=names).assign(subject_id=ids)[
        ["subject_id", *names]
    ].to_csv(folder / "latents.csv", index=False)
    rows = []
    for s in names:
        for t in names:
            if s != t:
                strong = rng.random() < 0.12
                rows.append(
                    (s, t, round(float(rng.uniform(0.4, 1.0) if strong else rng.uniform(0, 0.35)), 4))
                )
    pd.DataFrame(rows, columns=["source", "target", "weight"]).to_csv(folder / "graph.csv", index=False)
    (folder / "config.json").write_text(json.dumps({"graph": {"threshold": 0.5}}))
    return folder


def redraw(run: Path, threshold: float) -> str:
    """The page fragment's work for one slider position, without Streamlit's element plumbing."""
    from crl.ui import run_cache
    from crl.viz.network import latent_network_html

    graph = run_cache.graph(run)
    run_cache.sparsity_levels(run)
    run_cache.recorded_threshold(run)
    labels = run_cache.display_names(run, None)
    names = [labels.get(n, n) for n in graph.names]
    adjacency = graph.adjacency(threshold)
    report = run_cache.identifiability(graph, adjacency, names)
    index = {label: i for i, label in enumerate(names)}
    block_only = [index[label] for label in report.block_only]
    return latent_network_html(
        names, graph.modality_of, graph.weights, threshold, block_only=block_only, height=600
    )


def apptest_rerun(run_root: Path) -> list[float]:
    """Whole-page reruns after a slider move (AppTest: script + element serialisation, no browser)."""
    from streamlit.testing.v1 import AppTest

    os.environ["CRL_RUNS"] = str(run_root)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/graph.py").run()
    times = []
    for threshold in THRESHOLDS[::3]:
        start = time.perf_counter()
        at.slider[0].set_value(float(threshold)).run()
        times.append(1000 * (time.perf_counter() - start))
        assert not at.exception, at.exception
    return times


def main() -> None:
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from crl.ui import run_cache
    from crl.viz.heatmap import adjacency_heatmap

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for modalities, per in ((10, 3), (6, 5)):
            run = make_run(Path(tmp) / f"runs-{modalities}x{per}" / "run", modalities, per)
            redraw(run, 0.5)  # first load: reading the CSVs, pyvis template
            redraw(run, 0.5)
            cold = [timed(redraw, run, float(t)) for t in THRESHOLDS]
            warm = [timed(redraw, run, float(t)) for t in THRESHOLDS for _ in range(3)]
            graph = run_cache.graph(run)
            adjacency_heatmap(list(graph.names), graph.weights, graph.modality_of, 0.5)
            heat = [
                timed(adjacency_heatmap, list(graph.names), graph.weights, graph.modality_of, float(t))
                for t in THRESHOLDS
            ]
            page = [timed(apptest_rerun, run.parent)]  # warm-up: imports, first page run
            page = apptest_rerun(run.parent)
            rows.append((f"{modalities} x {per}", summary(cold), summary(warm), summary(heat), summary(page)))

    def fmt(s: tuple[float, float, float]) -> str:
        return f"{s[0]:.1f} / {s[1]:.1f} / {s[2]:.1f}"

    lines = [
        "# Latent graph page: server time of a threshold redraw (30 latents)",
        "",
        f"`python bench/ui.py` on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{len(THRESHOLDS)} thresholds from {THRESHOLDS[0]} to {THRESHOLDS[-1]}; load average "
        f"{os.getloadavg()[0]:.1f} when it finished (other work shares the cores). Milliseconds as median / p90 / max.",
        "",
        "- **redraw, cold**: cached graph + names → adjacency → identifiability (not yet cached for this "
        "adjacency) → network HTML; the path the fragment runs when the slider reaches a new threshold.",
        "- **redraw, warm**: the same thresholds again (identifiability cached by adjacency).",
        "- **heatmap**: building the adjacency heatmap figure, also redrawn with the slider.",
        "- **page rerun**: AppTest rerun of the whole Graph page after a slider move (script, every element "
        "serialised, AppTest's own overhead; no browser), for scale.",
        "",
        f"Budget: {BUDGET_MS:.0f} ms for the redraw path.",
        "",
        "| latents (modalities x per modality) | redraw, cold | redraw, warm | heatmap | page rerun (AppTest) |",
        "|---|---|---|---|---|",
    ]
    for name, cold, warm, heat, page in rows:
        lines.append(f"| {name} | {fmt(cold)} | {fmt(warm)} | {fmt(heat)} | {fmt(page)} |")
    worst = max(max(r[1][2], r[2][2]) for r in rows)
    verdict = "within" if worst <= BUDGET_MS else "OVER"
    lines += ["", f"Slowest redraw: {worst:.1f} ms, {verdict} the {BUDGET_MS:.0f} ms budget.", ""]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # Keep the section bench/traversal.py writes into the same file.
    previous = OUT.read_text() if OUT.exists() else ""
    marker = previous.find("<!-- bench/traversal.py: start -->")
    kept = "\n" + previous[marker:] if marker >= 0 else ""
    OUT.write_text("\n".join(lines) + kept)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

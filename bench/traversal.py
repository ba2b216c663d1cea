"""Server time of a Traversal page redraw on a demo-like model; writes its section of bench/results/ui.md.

The model is the shipped demo run (assets/demo/run) when it exists, else a briefly trained run on a small demo
cohort (sleep signals, left and right fundus photos: the same networks as the demo, so decoding costs the same;
one required link sleep.z0 -> fundus_left.z0 so an intervention reaches an image modality). Timed, as the page's
fragment runs them, through the cached loaders of crl/ui/model_cache.py:

- move, slider: the current-value slider moves in "move this latent only" mode: the decoded traversal comes from
  the cache and the changed modalities' figures are built (a step seen for the first time) or come from the
  cache (a step seen before), then serialised as st.plotly_chart does;
- move, new range: the range or the latent changed, so the traversal is decoded (one batched call) first;
- intervene, slider: do(z = v) at a new value (abduction, prediction, one decode of before and after) and the
  changed modalities' figures, plus the propagated traversal's figures (cached: they do not depend on v);
- page rerun: an AppTest rerun of the whole page after a slider move (script, element serialisation), for scale.

Run alone (timings on 2 shared cores vary by about 30 %): python bench/traversal.py
"""

from __future__ import annotations

import logging
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._common import summary, timed  # noqa: E402

OUT = ROOT / "bench" / "results" / "ui.md"
BUDGET_MS = 300.0
START = "<!-- bench/traversal.py: start -->"
END = "<!-- bench/traversal.py: end -->"
REPEATS = 7


def find_or_train(tmp: Path) -> tuple[Path, Path, str]:
    """(run, cohort, description)."""
    from crl.ui import model_cache

    shipped = ROOT / "assets" / "demo" / "run"
    if (shipped / "model.pt").exists():
        cohort = model_cache.trained_cohort(shipped) or ROOT / "assets" / "demo" / "cohort"
        return shipped, cohort, "the shipped demo run (assets/demo/run)"
    from crl.cli import main as crl_main
    from crl.data.synthetic import write_preset

    cohort = write_preset("demo", tmp / "demo", n=200, seed=0)
    run = tmp / "runs" / "demo-tiny"
    overrides = [
        "train.epochs=1",
        "train.batch_size=50",
        'graph.required=[["sleep.z0", "fundus_left.z0"]]',
        'graph.forbidden=[["fundus_left.z0", "sleep.z0"]]',
        "graph.initial_strength=0.3",
    ]
    import dataclasses

    from crl.config import TrainConfig

    if "min_steps" in {f.name for f in dataclasses.fields(TrainConfig)}:
        overrides.append("train.min_steps=0")  # decoding costs the same however long the model trained
    args = ["train", str(cohort), "--out", str(run), "--device", "cpu"]
    if crl_main(args + [a for o in overrides for a in ("--set", o)]) != 0:
        raise SystemExit("training the benchmark run failed")
    return run, cohort, "no shipped demo run, so a demo-preset run trained for 1 epoch on 200 subjects"


def serialise(figures: dict) -> int:
    """What st.plotly_chart does with each figure before sending it: a validated dict, then plotly's JSON."""
    import plotly.io as pio
    import plotly.tools

    return sum(
        len(pio.to_json(plotly.tools.return_figure_from_figure_or_data(f, True), validate=False))
        for f in figures.values()
    )


def _changed(change: dict[str, float]) -> list[str]:
    return [m for m, c in change.items() if c > 1e-4]


def move_redraw(run: Path, cohort: Path, latent: int, values: np.ndarray, step: int, label: str) -> None:
    """The fragment in "move this latent only" mode: figures only for the modalities that change."""
    from crl.analysis.traversal import largest_change
    from crl.ui import model_cache

    _, _, normaliser = model_cache.model(run)
    model_cache.encoded(run, cohort)
    decoded = model_cache.traversal(run, cohort, None, latent, values, None)
    moved = _changed(largest_change(decoded, {m: x[:1] for m, x in decoded.items()}, normaliser))
    serialise(model_cache.traversal_figures(run, cohort, None, latent, values, None, moved, step, label))


def intervene_redraw(
    run: Path, cohort: Path, latent: int, values: np.ndarray, value: float, threshold: float
) -> None:
    """The fragment in intervention mode: do(z = value), what changed, and the propagated range (no highlight)."""
    from crl.analysis.traversal import largest_change
    from crl.ui import model_cache

    _, _, normaliser = model_cache.model(run)
    model_cache.encoded(run, cohort)
    before, after, _ = model_cache.intervention(run, cohort, None, latent, value, threshold)
    moved = _changed(largest_change(after, before, normaliser))
    serialise(
        model_cache.intervention_figures(run, cohort, None, latent, value, threshold, moved, f"do = {value}")
    )
    decoded = model_cache.traversal(run, cohort, None, latent, values, threshold)
    moved = _changed(largest_change(decoded, {m: x[:1] for m, x in decoded.items()}, normaliser))
    serialise(model_cache.traversal_figures(run, cohort, None, latent, values, threshold, moved, None, "z"))


def apptest_reruns(run: Path) -> list[float]:
    from streamlit.testing.v1 import AppTest

    os.environ["CRL_RUNS"] = str(run.parent)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.session_state["run_dir"] = str(run)
    at.switch_page("pages/traversal.py").run()
    assert not at.exception, at.exception
    times = []
    for step in [0, 3, 6, 2, 5, 1, 4]:
        slider = next(s for s in at.select_slider if s.label == "Current value")
        start = time.perf_counter()
        slider.set_value(step).run()
        times.append(1000 * (time.perf_counter() - start))
        assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    return times


def write_section(lines: list[str]) -> None:
    """Replace this script's own section of ui.md (between its markers), or append it; the rest is untouched."""
    block = "\n".join([START, *lines, END]) + "\n"
    text = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END) + r"\n?", flags=re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + ("\n\n" if text.strip() else "") + block
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")


def main() -> None:
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    import torch

    torch.set_num_threads(1)
    from crl.analysis.traversal import traversal_values
    from crl.ui import model_cache

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("CRL_CACHE", str(Path(tmp) / "cache"))
        run, cohort, what = find_or_train(Path(tmp))
        start = time.perf_counter()
        model, _, _ = model_cache.model(run)
        load_ms = 1000 * (time.perf_counter() - start)
        start = time.perf_counter()
        data = model_cache.encoded(run, cohort)
        encode_ms = 1000 * (time.perf_counter() - start)
        n_subjects = len(data.subject_ids)
        latent = 0  # sleep.z0 on the demo: its modality is a signal, its descendant an image
        values = traversal_values(data.z, latent, 2.0, 7)
        threshold = 0.5

        move_redraw(run, cohort, latent, values, 3, "warm-up")  # imports, plotly templates
        # A label never seen before rebuilds the figures (a step visited for the first time); the decode is cached.
        move_new = [
            timed(move_redraw, run, cohort, latent, values, k % 7, f"z{k}") for k in range(3 * REPEATS)
        ]
        for k in range(7):
            move_redraw(run, cohort, latent, values, k, "seen")
        move_seen = [
            timed(move_redraw, run, cohort, latent, values, k % 7, "seen") for k in range(3 * REPEATS)
        ]
        move_range = [
            timed(move_redraw, run, cohort, latent, values + 0.01 * (k + 1), 3, "z") for k in range(REPEATS)
        ]
        intervene_redraw(run, cohort, latent, values, float(values[3]), threshold)
        intervene_new = [
            timed(intervene_redraw, run, cohort, latent, values, float(values[k % 7]) + 1e-4 * k, threshold)
            for k in range(3 * REPEATS)
        ]
        for k in range(7):
            intervene_redraw(run, cohort, latent, values, float(values[k]), threshold)
        intervene_seen = [
            timed(intervene_redraw, run, cohort, latent, values, float(values[k % 7]), threshold)
            for k in range(3 * REPEATS)
        ]
        page = apptest_reruns(run)
        modalities = ", ".join(
            f"{m} ({model.schema[m]['kind']} {model.schema[m]['shape']})" for m in model.names
        )

    def fmt(s: tuple[float, float, float]) -> str:
        return f"{s[0]:.1f} / {s[1]:.1f} / {s[2]:.1f}"

    rows = [
        ("move, slider to a step not seen yet (figures built)", summary(move_new)),
        ("move, slider back to a step seen before (figures cached)", summary(move_seen)),
        ("move, new range or latent (7-step batched decode + figures)", summary(move_range)),
        ("intervene, slider to a new value (do, decode, figures)", summary(intervene_new)),
        ("intervene, slider back to a value seen before", summary(intervene_seen)),
        ("page rerun after a slider move (AppTest, whole script)", summary(page)),
    ]
    worst = max(r[1][2] for r in rows[:5])
    lines = [
        "# Traversal page: server time of a redraw (demo-like model)",
        "",
        f"`python bench/traversal.py` on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, torch on 1 thread (as in the app); load average {os.getloadavg()[0]:.1f} "
        f"when it finished (other work shares the cores). Model: {what}; modalities {modalities}. "
        f"Milliseconds as median / p90 / max; the average subject; 7 steps; latent {model.latent_names[latent]}.",
        "",
        f"Once per model: loading the checkpoint {load_ms:.0f} ms; encoding {n_subjects} subjects "
        f"{encode_ms:.0f} ms ({encode_ms / max(n_subjects, 1):.1f} ms per subject), then cached.",
        "",
        f"Budget: {BUDGET_MS:.0f} ms for a redraw.",
        "",
        "| redraw | ms |",
        "|---|---|",
        *[f"| {name} | {fmt(s)} |" for name, s in rows],
        "",
        f"Slowest redraw: {worst:.1f} ms, {'within' if worst <= BUDGET_MS else 'OVER'} the "
        f"{BUDGET_MS:.0f} ms budget.",
    ]
    write_section(lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""A shareable report of one run: a single HTML file that opens offline, for people who will not run crl.

What it holds, each part from the module that computes it for the dashboard: the latent graph (an inline SVG,
crl.viz.network_svg) with each latent's and link's confidence (crl.analysis.confidence), identifiability
(crl.graphs.identifiability), metrics against the truth when the cohort has one (crl.analysis.evaluate), one
traversal figure per latent (crl.analysis.report_traversals, plotly.js inlined once), the run's settings and a
summary of its data. Reading is crl.analysis.report_inputs, the sections crl.analysis.report_sections.

Parts that need the cohort (traversals, metrics, plain names, what each latent moves with, the data summary
beyond what config.json records) are left out when it is not at hand, and the report says why. Apart from its
"generated" time, the same run, cohort and crl give the same file.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from crl.analysis import report_sections as sections
from crl.analysis.report_inputs import read_inputs
from crl.analysis.report_traversals import traversals_section
from crl.errors import CrlError
from crl.graphs.identifiability import check_identifiability
from crl.runs.files import atomic_write_text, now_iso
from crl.runs.storage import storage_error
from crl.viz import report_html as page


@dataclass
class Report:
    """The document, and what it had to leave out and why (the CLI prints these notes)."""

    html: str
    notes: list[str] = field(default_factory=list)


def compose_report(
    run_dir: Path, cohort_dir: Path | None = None, generated: str | None = None, name: str | None = None
) -> Report:
    """The report of a finished run and the notes on what it left out (see build_report). `generated`: the
    time printed under the title (default: now), the only part that differs between two builds; `name`: how
    the run is called in the title (default: "run <folder name>")."""
    x = read_inputs(Path(run_dir), Path(cohort_dir) if cohort_dir is not None else None)
    names = [x.labels[n] for n in x.graph.names]
    ident = check_identifiability(x.graph.adjacency(x.threshold), x.graph.blocks(), names)
    metrics, metrics_body = sections.metrics_section(x)
    traversals, no_traversals = traversals_section(x)
    parts = [
        ("summary", "Summary", sections.summary_section(x, metrics, ident)),
        ("graph", "The learned graph", sections.graph_section(x)),
        (
            "identifiability",
            "Can the data tell the latents apart?",
            sections.identifiability_section(x, ident),
        ),
    ]
    if metrics_body is not None:
        parts.append(("metrics", "Compared with the known truth", metrics_body))
    parts += [
        ("traversals", "What each latent does", traversals),
        ("settings", "Settings of this run", sections.settings_section(x)),
        ("data", "The data", sections.data_section(x)),
    ]
    subtitle = f"Generated {generated or now_iso()} by crl from the run folder {x.run.path.name}."
    notes = list(x.notes) + ([no_traversals] if no_traversals else [])
    title = f"Report on {name}" if name else f"Report on run {x.run.name}"
    return Report(page.report_page(title, subtitle, parts), notes)


def build_report(run_dir: Path, cohort_dir: Path | None = None, name: str | None = None) -> str:
    """One self-contained HTML document about a finished run (no network requests: plotly.js and the graph are
    inline). cohort_dir: the cohort it was trained on (default: the one config.json records); without it the
    report has no traversals, metrics or data summary beyond config.json, and says so.

    Raises RunError for a folder that is not a finished run and CohortError for a cohort_dir that is not a
    cohort folder."""
    return compose_report(run_dir, cohort_dir, name=name).html


def is_report(path: Path) -> bool:
    """Whether `path` is a file this module wrote (its head names crl report as the generator)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(600).decode("utf-8", errors="replace")
    except OSError:
        return False
    return f'<meta name="generator" content="{page.GENERATOR}">' in head


def check_destination(run_dir: Path, out: Path) -> None:
    """CrlError when the report cannot or must not be written to `out`: a folder, one of the run's own files,
    a path through a file, a folder that is not writable (checked before the seconds of building).

    Inside the run folder, only a new file or an earlier report may be written: config.json, graph.csv and
    the rest are what the run is."""
    out, run = Path(out), Path(run_dir)
    if out.is_dir():
        raise CrlError(f"--out {out} is a folder; name the file to write, e.g. {out / 'report.html'}")
    if out.exists() and out.resolve().is_relative_to(run.resolve()) and not is_report(out):
        raise CrlError(
            f"{out} is one of the run's own files, and the report would replace it; choose another --out, "
            f"e.g. {run / 'report.html'}"
        )
    folder = out.absolute().parent
    while (
        not folder.exists() and folder != folder.parent
    ):  # missing folders are made: check the first that is
        folder = folder.parent
    if not folder.is_dir():
        raise CrlError(f"--out {out}: {folder} is a file, not a folder; choose another --out")
    if not os.access(folder, os.W_OK):
        denied = PermissionError(errno.EACCES, "Permission denied", str(folder))
        raise storage_error(denied, "nothing was written; choose another --out")


def write_report(run_dir: Path, out: Path, cohort_dir: Path | None = None) -> tuple[Path, list[str]]:
    """Builds the report and writes it to `out` atomically; returns the path and the notes on what was left
    out. The destination is checked first (check_destination), so a refused --out costs no building."""
    check_destination(run_dir, out)
    report = compose_report(run_dir, cohort_dir)
    atomic_write_text(Path(out), report.html)
    return Path(out), report.notes

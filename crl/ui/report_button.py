"""The Latent graph page's "Download report (HTML)" button: the run's shareable report (crl.analysis.report).

Building it takes seconds (the cohort is loaded and encoded for the traversals), so the button's data is a
callable that Streamlit runs only on a click, and the result is kept per run, cohort and the modification
times of their files: a second click, or one on a later visit, costs nothing until a file changes.
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path

import streamlit as st

from crl.runs.files import EDGE_CONFIDENCE_FILE, LATENT_STABILITY_FILE
from crl.ui.state import run_label


@functools.lru_cache(
    maxsize=2
)  # a report is a few MB; not st.cache_data: the callable runs off the script thread
def _report(run: str, cohort: str | None, stamps: tuple[float, ...], name: str) -> str:
    import torch

    from crl.analysis.report import build_report

    torch.set_num_threads(1)  # as crl.ui.model_cache: the app never takes every core from a training job
    return build_report(Path(run), Path(cohort) if cohort is not None else None, name)


def _stamps(run: Path, cohort: Path | None) -> tuple[float, ...]:
    from crl.ui.cache import folder_stamp
    from crl.ui.model_cache import checkpoint_stamp
    from crl.ui.run_cache import run_stamp, stamp

    confidence = tuple(stamp(run / name) for name in (EDGE_CONFIDENCE_FILE, LATENT_STABILITY_FILE))
    cohort_stamps = (folder_stamp(cohort), folder_stamp(cohort / "truth")) if cohort is not None else ()
    return run_stamp(run) + checkpoint_stamp(run) + confidence + cohort_stamps


def report_html(run: Path, cohort: Path | None) -> str:
    """The report of `run` with `cohort` (None, or a folder that is not a cohort: without one), or, when it
    cannot be built, a short page saying why: a download that fails shows the user nothing at all."""
    run = Path(run)
    usable = cohort is not None and (Path(cohort) / "cohort.toml").is_file()
    folder = Path(cohort) if usable else None
    try:
        return _report(str(run), str(folder) if folder else None, _stamps(run, folder), run_label(run))
    except Exception as error:  # noqa: BLE001 - the message goes into the downloaded file instead
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>No report</title></head>'
            "<body>"
            f"<p>The report on run {html.escape(run.name)} could not be built: "
            f"{html.escape(f'{type(error).__name__}: {error}')}</p></body></html>\n"
        )


def report_button(run: Path, cohort: Path | None, key: str) -> None:
    """The download button; the report is built when it is clicked."""
    st.download_button(
        "Download report (HTML)",
        data=functools.partial(report_html, Path(run), cohort),
        file_name=f"{re.sub(r'[^A-Za-z0-9._-]+', '-', Path(run).name).strip('-') or 'run'}-report.html",
        mime="text/html",
        key=key,
        on_click="ignore",
        help="One file that opens offline in any browser, to share with people who do not use crl: the graph "
        "at the run's own link threshold with its confidence, identifiability, metrics against the truth "
        "when it is known, what each latent does, the run's settings and data. Building it takes seconds.",
        icon=":material/summarize:",
    )

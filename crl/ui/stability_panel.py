"""The Train page's control for measuring a finished run's confidence: train more restarts in the background.

One number (restarts in all, the run included) and one button; the job itself is crl.jobs.stability_job and its
progress shows in the job panel like a training's. How long it takes is read from the run's own training time.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from crl.analysis.more_restarts import MAX_RESTARTS, restarts_to_train
from crl.errors import CrlError
from crl.jobs import job_threads, restarts_of, seconds_per_restart, start_stability_job
from crl.jobs.stability_job import DEFAULT_RESTARTS
from crl.runs.confidence import restart_count, restart_indices
from crl.runs.files import EDGE_CONFIDENCE_FILE
from crl.ui.flash import flash
from crl.ui.jobs_panel import duration_text

LAUNCH_KEY = "train_stability"


def restarts_key(run: Path) -> str:
    return f"train_stability_restarts_{run.name}"


def how_long(run: Path, more: int) -> str:
    """A sentence saying roughly how long `more` restarts take: that many times the run's own training."""
    each = seconds_per_restart(run)
    if each is None:
        return "About as long as training it again, per restart."
    if more <= 1:
        return f"About {duration_text(each)}, as long as this run took to train."
    return f"About {duration_text(more * each)}: {more} × the {duration_text(each)} this run took to train."


def _launch(run: Path, key: str) -> None:
    try:
        restarts = int(st.session_state[key])
        more = len(restarts_to_train(run, restarts))
        start_stability_job(run, restarts, threads=job_threads())
    except CrlError as error:
        flash("error", str(error))
        return
    what = f"{more} more restart{'s' if more != 1 else ''}" if more else "its confidence from its restarts"
    flash("success", f"Started measuring the confidence of {run.name}: {what}.")


def draw_control(run: Path) -> None:
    """For a finished run: 'Measure confidence: train N more restarts', with the total as a number input."""
    have = restarts_of(run)  # with those a stopped measurement finished
    measured = (run / EDGE_CONFIDENCE_FILE).is_file()
    key = restarts_key(run)
    with st.container(border=True):
        if measured:
            st.markdown(
                f"**Confidence** measured across {restart_count(run)} restarts: the Latent graph page shows "
                "how often each link was found and fades the latents that restarts disagree on."
            )
        else:
            st.markdown(
                "**Confidence**: train this run again from other starting points to see which latents and "
                "links hold up (the Latent graph page then shows it). This run stays as it is."
            )
        cols = st.columns([1, 2], vertical_alignment="bottom")
        restarts = cols[0].number_input(
            "Restarts in all",
            min_value=2,
            max_value=MAX_RESTARTS,
            value=min(max(DEFAULT_RESTARTS, have + 1), MAX_RESTARTS),
            key=key,
            help=f"This run counts as one; it has {have} now. Each new restart trains the same model from "
            "another seed on the same data.",
        )
        more = len(restarts_to_train(run, int(restarts)))
        waiting = bool(restart_indices(run, pending=True))  # trained by a measurement that was stopped
        if more:
            label = f"Measure confidence: train {more} more restart{'s' if more != 1 else ''}"
        elif waiting or not measured:
            label = f"Measure confidence from the {have} restarts it has"
        else:
            label = "Measure confidence: nothing more to train"
        cols[1].button(
            label,
            key=LAUNCH_KEY,
            icon=":material/verified:",
            on_click=_launch,
            args=(run, key),
            disabled=measured and not more and not waiting,
            width="stretch",
        )
        if more:
            st.caption(
                f"{how_long(run, more)} Runs in the background like training; you can leave this page."
            )
        elif measured and not waiting:
            st.caption(f"It already has {have} restarts: ask for more to train more.")

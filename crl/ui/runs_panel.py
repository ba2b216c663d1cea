"""The runs under the runs folder: a table of their states, and what can be done to one (resume, sparsity
refits, measuring its confidence, use as the current model, rename, delete)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from crl.errors import CrlError
from crl.jobs import job_threads, parse_weights, refit_job, resume_job
from crl.runs.registry import RunInfo, delete_run, has_checkpoint, list_runs, rename_run
from crl.runs.sparsity_path import read_index
from crl.ui import state
from crl.ui.flash import FLASH_KEY, flash, show_flash  # noqa: F401 (the Train page flashes through here)
from crl.ui.stability_panel import draw_control as draw_confidence_control

PICK_KEY = "train_run_pick"
# The last refit's weights and epochs: the form is not drawn while the refit runs, so Streamlit forgets its
# widgets' values; the next refit starts from these (tweaking sparsity is a loop of small changes).
LAST_REFIT_KEY = "train_refit_last"


def runs() -> list[RunInfo]:
    return list_runs(state.runs_root())


def runs_table(infos: list[RunInfo]) -> pd.DataFrame:
    """One row per run, newest first: what a user scans to find a run."""
    rows = []
    for r in infos:
        rows.append(
            {
                "Run": r.name,
                "State": r.state,
                "Cohort": r.cohort,
                "Started": pd.Timestamp(r.created, unit="s", tz="UTC").tz_convert(None)
                if r.created
                else None,
                "Epochs": f"{r.epoch if r.epoch is not None else '?'} / {r.epochs}" if r.epochs else "",
                "Best validation loss": r.best_validation_loss,
                "Device": r.device,
                "Sparsity levels": r.sparsity_levels or None,
            }
        )
    return pd.DataFrame(rows)


def draw_table(infos: list[RunInfo], refresh: float | None = None) -> None:
    """The runs table; with `refresh` seconds it re-reads the runs folder on a timer (while a job is active)."""

    @st.fragment(run_every=refresh)
    def table() -> None:
        current = runs() if refresh else infos
        if refresh and not any(r.state in ("queued", "running") for r in current):
            st.rerun(scope="app")  # the last job ended: redraw the page once, which stops this timer
        _table(current)

    table()


def _table(infos: list[RunInfo]) -> None:
    st.dataframe(
        runs_table(infos),
        hide_index=True,
        width="stretch",
        key="train_runs_table",
        column_config={
            "Started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "Best validation loss": st.column_config.NumberColumn(format="%.4g"),
        },
    )


def pick(infos: list[RunInfo]) -> Path | None:
    """A select box over the runs (newest first); the Start button and actions set it through PICK_KEY."""
    options = [str(r.path) for r in infos]
    if not options:
        return None
    if st.session_state.get(PICK_KEY) not in options:
        st.session_state[PICK_KEY] = options[0]
    by_path = {str(r.path): r for r in infos}
    choice = st.selectbox(
        "Show the run",
        options,
        key=PICK_KEY,
        # The name only: a state in the label would go stale while the panel below updates on its own.
        format_func=lambda p: by_path[p].name,
        help="Runs in the runs folder, newest first; the table at the bottom lists their states.",
    )
    return Path(choice)


# ------------------------------------------------------------------------------------------ actions (callbacks)


def _resume(run: Path) -> None:
    try:
        resume_job(run, background=True, threads=job_threads())
    except CrlError as error:
        flash("error", str(error))
        return
    flash("success", f"Resuming {run.name}.")


def _use(run: Path) -> None:
    state.set_run_dir(run)
    flash("success", f"{run.name} is now the current model: the result pages show it.")


def _refit(run: Path, weights_key: str, epochs_key: str) -> None:
    try:
        weights = parse_weights(st.session_state.get(weights_key, ""))
        if not weights:
            raise CrlError(
                "type one sparsity weight (a quick re-fit) or several separated by commas (a path)"
            )
        epochs = int(st.session_state[epochs_key])
        refit_job(run, weights, epochs=epochs, threads=job_threads())
        st.session_state[LAST_REFIT_KEY] = (str(st.session_state.get(weights_key, "")), epochs)
    except CrlError as error:
        flash("error", str(error))
        return
    what = "a re-fit" if len(weights) == 1 else f"a sparsity path of {len(weights)} weights"
    flash("success", f"Started {what} of {run.name}.")


def _rename(run: Path, name_key: str) -> None:
    try:
        target = rename_run(run, str(st.session_state.get(name_key, "")).strip())
    except CrlError as error:
        flash("error", str(error))
        return
    if state.run_dir() == run:
        state.set_run_dir(target)
    st.session_state[PICK_KEY] = str(target)
    st.session_state.pop(name_key, None)
    flash("success", f"Renamed {run.name} to {target.name}.")


def _delete(run: Path, confirm_key: str) -> None:
    if not st.session_state.get(confirm_key):
        flash("error", "Tick the box to confirm the deletion first.")
        return
    try:
        delete_run(run)
    except CrlError as error:
        flash("error", str(error))
        return
    if st.session_state.get(state.RUN_DIR) == str(run):
        state.set_run_dir(None)
    st.session_state.pop(PICK_KEY, None)
    st.session_state.pop(confirm_key, None)
    flash("success", f"Deleted {run.name}.")


# ------------------------------------------------------------------------------------------ drawing


def _levels(run: Path) -> None:
    levels = read_index(run)
    if not levels:
        return
    st.markdown(
        "**Sparsity path**: the same model refitted at each weight (the Latent graph page steps through them)"
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Sparsity weight": lv.get("sparsity"),
                    "Links ≥ 0.5": lv.get("edges_over_half"),
                    "Best validation loss": lv.get("best_validation_loss"),
                    "Epochs": lv.get("epochs"),
                }
                for lv in levels
            ]
        ),
        hide_index=True,
        key=f"train_levels_{run.name}",
        column_config={
            "Sparsity weight": st.column_config.NumberColumn(format="%.4g"),
            "Best validation loss": st.column_config.NumberColumn(format="%.4g"),
        },
    )


def draw_actions(run: Path, status: dict[str, Any], default_sparsity: float, path_epochs: int) -> None:
    """Buttons for what can be done to this run in its current state (none while it is queued or running)."""
    run_state = status.get("state")
    if status.get("alive"):
        return
    if run_state == "done":
        if state.run_dir() == run:
            st.markdown(
                ":material/check_circle: **This is the current model**: the Latent graph, Traversal and "
                "Evaluate pages show it."
            )
        else:
            st.button(
                "Use as the current model",
                key="train_use",
                icon=":material/check:",
                on_click=_use,
                args=(run,),
                help="The Latent graph, Traversal and Evaluate pages show the current model.",
            )
        with st.container(border=True):
            st.markdown("**Refit at other sparsity weights** (warm-started from this model, quick)")
            cols = st.columns([2, 1, 1.2], vertical_alignment="bottom")
            weights_key, epochs_key = "train_refit_weights", "train_refit_epochs"
            last_weights, last_epochs = st.session_state.get(LAST_REFIT_KEY, (None, None))
            if weights_key not in st.session_state:
                st.session_state[weights_key] = last_weights or f"{default_sparsity * 10:g}"
            cols[0].text_input(
                "Sparsity weights",
                key=weights_key,
                help="One weight for a quick re-fit, or several separated by commas for a path "
                "(e.g. 0.001, 0.01, 0.1). Higher keeps fewer cross-modal links.",
            )
            cols[1].number_input(
                "Epochs each",
                min_value=1,
                max_value=100_000,
                value=last_epochs or path_epochs,
                key=epochs_key,
            )
            cols[2].button(
                "Refit",
                key="train_refit",
                icon=":material/tune:",
                on_click=_refit,
                args=(run, weights_key, epochs_key),
                width="stretch",
            )
        _levels(run)
        draw_confidence_control(run)
    elif status.get("job") == "stability" and run_state == "interrupted":
        st.button(
            "Retry measuring confidence",
            key="train_resume",
            icon=":material/verified:",
            type="primary",
            on_click=_resume,
            args=(run,),
            help="Trains the restarts still missing; those finished before the interruption are kept and the "
            "trained model is unchanged.",
        )
    elif status.get("job") == "refit" and run_state == "interrupted":
        st.button(
            "Retry the refit",
            key="train_resume",
            icon=":material/tune:",
            type="primary",
            on_click=_resume,
            args=(run,),
            help="Runs the refit that was cut short again; the trained model is unchanged.",
        )
    elif status.get("resumable") or run_state in ("stopped", "interrupted", "failed"):
        checkpoint = has_checkpoint(run)
        st.button(
            "Resume from the last checkpoint" if checkpoint else "Start this run again",
            key="train_resume",
            icon=":material/play_arrow:",
            type="primary",
            on_click=_resume,
            args=(run,),
            help="Continues training in the background with the same settings."
            if checkpoint
            else "It has no checkpoint to continue from, so training starts over with the same settings.",
        )
    with st.expander("Rename or delete this run"):
        name_key, confirm_key = f"train_rename_{run.name}", f"train_delete_ok_{run.name}"
        cols = st.columns([2, 1], vertical_alignment="bottom")
        cols[0].text_input("New name", key=name_key, placeholder=run.name)
        cols[1].button("Rename", key="train_rename", on_click=_rename, args=(run, name_key), width="stretch")
        cols = st.columns([2, 1], vertical_alignment="bottom")
        cols[0].checkbox(f"Delete {run.name} and all its files", key=confirm_key)
        cols[1].button(
            "Delete",
            key="train_delete",
            icon=":material/delete:",
            on_click=_delete,
            args=(run, confirm_key),
            width="stretch",
        )

"""Train page: start a background training job, watch it live, stop and resume it, and manage the runs."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from crl.config import Config
from crl.errors import CrlError
from crl.jobs import job_status, job_threads, parse_weights, start_job
from crl.runs.files import read_json
from crl.runs.run import Run
from crl.runs.sparsity_path import default_path_epochs
from crl.ui import cache, routing, run_cache, state
from crl.ui import jobs_panel as jp
from crl.ui import model_config as mc
from crl.ui import runs_panel as rp
from crl.ui.markdown import escape_markdown
from crl.ui.user_errors import show_error

routing.enter_through_app(__file__)

NAME_KEY = "train_new_name"
PATH_KEY = "train_new_path"

st.title("Train")
st.caption(
    "Training runs in its own process, so you can leave this page or close the browser: the job carries on, "
    "and this page picks it up again. Runs are saved in "
    f"{escape_markdown(state.runs_root())}."
)
rp.show_flash()


def _summary(config: Config, edited: bool, subjects: int, shown) -> str:
    from crl.engine.device import describe_device  # torch loads when the summary is drawn, not with the page
    from crl.engine.schedules import plan_for_cohort

    modalities = ", ".join(
        f"{escape_markdown(shown.modality(n))} ({m.latents})" for n, m in config.modalities.items()
    )
    t, loss = config.train, config.loss
    origin = "your settings from the Model page" if edited else "the default settings"
    seeds = f"seed {t.seed}" if t.restarts == 1 else f"{t.restarts} restarts from seed {t.seed}"
    return (
        f"With {origin}: latents per modality {modalities}; {_budget(plan_for_cohort(config, subjects), t)}, "
        f"learning rate {t.lr:g}, sparsity {loss.sparsity:g}, {seeds}, device {escape_markdown(describe_device(t.device))}."
    )


def _budget(plan, train) -> str:
    """How long the run trains, in the optimisation steps the graph schedule needs and the epochs they make."""
    text = f"up to **{plan.total_steps:,} optimisation steps** ({plan.epochs:,} epochs of {plan.steps_per_epoch:,}, batch {plan.batch_size})"
    if plan.epochs > train.epochs:
        text += (
            f", more than the {train.epochs} epochs asked for: a small cohort makes few steps per epoch, and "
            f"training takes at least {train.min_steps:,} steps (Model page, minimum steps)"
        )
    return text


def _preflight(config: Config, schema: dict) -> None:
    """Cheap checks before a process is started: what the job would only find out after loading everything."""
    from crl.analysis.dry_run import check_device, check_encoders

    check_encoders(config, schema)
    if config.train.device not in ("auto", "cpu"):
        check_device(config.train.device)


def _start(folder: Path, config: Config, schema: dict) -> None:
    try:
        _preflight(config, schema)
        weights = parse_weights(st.session_state.get(PATH_KEY, ""))
        name = str(st.session_state.get(NAME_KEY, "")).strip() or None
        run = start_job(
            folder,
            config,
            state.runs_root(),
            name=name,
            device=config.train.device,
            sparsity_path=weights,
            threads=job_threads(),  # all cores but one: the dashboard stays responsive
        )
    except CrlError as error:
        rp.flash("error", str(error))
        return
    st.session_state[rp.PICK_KEY] = str(run)
    st.session_state[NAME_KEY] = ""
    rp.flash("success", f"Started {run.name}.")


def _finished(run: Path, status: dict) -> None:
    """A job this page watched has ended: a finished model becomes the current one for the result pages."""
    refit = status.get("refit") if status.get("job") == "refit" else None
    if isinstance(refit, dict) and refit.get("state") == "done":
        state.set_run_dir(run)
        rp.flash(
            "success",
            f"The refit of {run.name} is done; the Latent graph page steps through its sparsity levels.",
        )
    elif isinstance(refit, dict):
        return  # stopped or failed: the panel says so
    elif status.get("job") == "stability":
        measured = status.get("stability") if isinstance(status.get("stability"), dict) else {}
        if measured.get("state") == "done":
            state.set_run_dir(run)
            rp.flash(
                "success",
                f"The confidence of {run.name} is measured across {measured.get('restarts')} restarts; the "
                "Latent graph page shows how often each link was found and fades the unstable latents.",
            )
    elif status.get("state") == "done":
        state.set_run_dir(run)
        rp.flash(
            "success", f"{run.name} finished; the Latent graph, Traversal and Evaluate pages now show it."
        )


def _run_settings(run: Path, fallback: Config) -> tuple[float, int]:
    """(sparsity weight, epochs per refit level) of the run as it was trained."""
    recorded = (read_json(Run(run).config_file, {}) or {}).get("config")
    try:
        config = Config.from_dict(recorded) if isinstance(recorded, dict) else fallback
    except CrlError:
        config = fallback
    return config.loss.sparsity, default_path_epochs(config)


def _lacking(cohort, config: Config) -> int:
    """Subjects the page's cohort leaves out for lacking a modality, whom an "infer" run trains on too."""
    if config.train.missing_modalities != "infer" or cohort.report is None:
        return 0
    return sum(1 for why in cohort.report.excluded.values() if str(why).startswith("missing from"))


def _subjects_text(cohort, config: Config) -> str:
    lacking = _lacking(cohort, config)
    if not lacking:
        return f"{len(cohort):,} subjects"
    return (
        f"{len(cohort) + lacking:,} subjects: {len(cohort):,} with every modality and {lacking:,} lacking one, "
        "whose latents for it are inferred from their others"
    )


def _warn_if_unlinked(run: Path) -> None:
    """A graph without a link across modalities pins no latent down one by one: say so where the run ends."""
    try:
        graph = run_cache.graph(run)
        kept = graph.edges(run_cache.recorded_threshold(run), cross_modal_only=True)
    except CrlError:
        return  # the Latent graph page says what is wrong with the run's files
    if len(graph.modalities) > 1 and kept.empty:
        st.warning(
            f"**{escape_markdown(run.name)} learned no link across modalities** at its threshold "
            f"{run_cache.recorded_threshold(run):g}, so none of its latents is identified on its own: read "
            "them as blocks per modality. A small cohort usually needs more optimisation steps (Model page: "
            "minimum steps, or more epochs); a lower sparsity weight also lets links through.",
            icon=":material/link_off:",
        )


folder = state.cohort_dir()
with st.container(border=True):
    st.subheader("New run")
    try:
        cohort = cache.cohort(folder)
    except CrlError as error:
        cohort = None
        show_error(error)
        st.page_link("pages/cohort.py", label="Fix or choose the cohort", icon=":material/table_view:")
    if cohort is not None:
        schema = cohort.schema()
        config = mc.current(folder, schema)
        st.markdown(
            f"Cohort **{escape_markdown(state.cohort_label(folder))}** ({_subjects_text(cohort, config)}). "
            + _summary(
                config,
                mc.is_edited(folder, schema),
                len(cohort) + _lacking(cohort, config),
                cache.labels(folder),
            )
        )
        st.page_link("pages/model.py", label="Change the settings on the Model page", icon=":material/tune:")
        cols = st.columns([1, 1, 0.8], vertical_alignment="bottom")
        cols[0].text_input(
            "Run name (optional)",
            key=NAME_KEY,
            placeholder="e.g. sleep-eyes-sparse",
            help="Letters, digits, '.', '_', '+' or '-'. Without one, the cohort name and the time are used.",
        )
        cols[1].text_input(
            "Then a sparsity path (optional)",
            key=PATH_KEY,
            placeholder="e.g. 0.03, 0.1, 0.3",
            help="After training, refit the model at each of these sparsity weights (warm-started, quick), so "
            "the Latent graph page can show how the graph thins out as sparsity grows.",
        )
        cols[2].button(
            "Start training",
            key="train_start",
            type="primary",
            icon=":material/play_arrow:",
            on_click=_start,
            args=(folder, config, schema),
            width="stretch",
        )

infos = rp.runs()
busy = [r for r in infos if r.state in ("queued", "running")]
if len(busy) > 1:
    st.caption(
        f"{len(busy)} jobs are active: one trains at a time per device and the others wait their turn in the queue."
    )
if not infos:
    st.info(
        "No runs of yours yet: start one above. A table cohort trains in a minute or two on a CPU; images "
        "take much longer there (the built-in demo model, with small networks, took about ten minutes), "
        "and a GPU helps: the synthetic images preset trained 25–33 times faster on one H200. "
        "The demo model is already on the Latent graph page."
    )
    st.stop()

st.subheader("Progress")
run = rp.pick(infos)
status = job_status(run)
jp.draw_live(run, on_finish=_finished)
if status.get("state") == "done":
    _warn_if_unlinked(run)
sparsity, path_epochs = _run_settings(run, mc.current(folder, cohort.schema()) if cohort else Config())
rp.draw_actions(run, status, sparsity, path_epochs)

st.subheader("All runs")
rp.draw_table(infos, refresh=jp.POLL_SECONDS * 2 if busy else None)

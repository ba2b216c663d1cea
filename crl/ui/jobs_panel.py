"""The live view of one job (training, or a side job on a trained run: a refit, a confidence measurement):
progress bar with ETA, speed, device, GPU memory, loss curves, Stop.

The job runs in its own process and writes status.json / heartbeat.json / metrics.jsonl; this panel only
reads them. It is a fragment that re-runs on a timer while the job is queued or running, and asks for one
full-page rerun when the job ends, so the timer stops and the runs list and sidebar catch up. A run whose job
was not active when the page was drawn is watched on a slower timer, and the page redraws when a job starts
on it (from a terminal, or a refit whose process is still starting), so the panel never stays stale.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from crl.jobs import job_status, stop_job
from crl.ui import run_cache
from crl.ui.markdown import escape_markdown
from crl.viz.curves import loss_curves, progress_text

POLL_SECONDS = 1.5
WATCH_SECONDS = 3.0
SEEN_ALIVE_KEY = "jobs_panel_seen_alive"
# The share of a job done before its ETA is shown: an estimate from the first steps swings wildly.
ETA_MIN_FRACTION = 0.01


def _number(status: Mapping[str, Any], key: str) -> float | None:
    value = status.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def progress_fraction(status: Mapping[str, Any]) -> float:
    """Share of the job done, 0-1: steps when known, else epochs; 1 once it finished. A confidence
    measurement counts its restarts: the finished ones, plus the share of the one training."""
    if status.get("state") == "done":
        return 1.0
    step, total = _number(status, "step"), _number(status, "total_steps")
    epoch, epochs = _number(status, "epoch"), _number(status, "epochs")
    inner = 0.0
    if step is not None and total:
        inner = min(max(step / total, 0.0), 1.0)
    elif epoch is not None and epochs:
        inner = min(max(epoch / epochs, 0.0), 1.0)
    measuring = _stability(status)
    if measuring is not None and status.get("state") in ("queued", "running"):
        trained, to_train = _number(measuring, "trained") or 0.0, _number(measuring, "to_train")
        if not to_train or "restart" not in measuring:
            return 0.0
        return min(max((trained + inner) / to_train, 0.0), 1.0)
    return inner


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    return f"{seconds // 3600:.0f} h {(seconds % 3600) // 60:02.0f} min"


def memory_text(status: Mapping[str, Any]) -> str:
    used, total = _number(status, "gpu_memory_peak_mb"), _number(status, "gpu_memory_total_mb")
    used = used if used is not None else _number(status, "gpu_memory_mb")
    if used is None:
        return "—"
    if total:
        return f"{used / 1024:.1f} of {total / 1024:.0f} GB"
    return f"{used / 1024:.1f} GB"


def shown_eta(status: Mapping[str, Any]) -> float | None:
    """Seconds left, once a running job has done enough to measure its speed (None before, and when idle). A
    confidence measurement adds the restarts still to come after this one, each as long as this one."""
    eta = _number(status, "eta_seconds")
    if status.get("state") != "running" or eta is None or progress_fraction(status) < ETA_MIN_FRACTION:
        return None
    measuring = _stability(status)
    if measuring is not None:
        later = (_number(measuring, "to_train") or 0) - (_number(measuring, "trained") or 0) - 1
        total, speed = _number(status, "total_steps"), _number(status, "steps_per_second")
        if later > 0 and total and speed:
            eta += later * total / speed
    return eta


def _refit(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The refit record when the run's latest job is a refit (crl.jobs.job_record)."""
    refit = status.get("refit")
    return refit if status.get("job") == "refit" and isinstance(refit, Mapping) else None


def _stability(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The confidence measurement's record when it is the run's latest job (crl.jobs.stability_job)."""
    record = status.get("stability")
    return record if status.get("job") == "stability" and isinstance(record, Mapping) else None


def _stability_line(record: Mapping[str, Any], status: Mapping[str, Any], text: str) -> str:
    """A confidence measurement's sentence: while it runs, which restart of how many; afterwards its outcome,
    then the training's line."""
    state, restarts = status.get("state"), int(_number(record, "restarts") or 0)
    trained, to_train = int(_number(record, "trained") or 0), int(_number(record, "to_train") or 0)
    if state == "queued":
        return f"Measuring confidence ({restarts} restarts in all): waiting to start."
    if state == "running":
        restart, epoch, epochs = (
            _number(record, "restart"),
            _number(status, "epoch"),
            _number(status, "epochs"),
        )
        if restart is None:
            return "Measuring confidence: reading the run…"
        where = f"training restart {restart + 1:.0f} of {restarts}"
        where += f" on {status['device']}" if status.get("device") else ""
        where += f", epoch {epoch:.0f} of {epochs:.0f}" if epoch is not None and epochs else ""
        eta = _number(status, "eta_seconds")  # status_line put shown_eta there
        left = f" · about {duration_text(eta)} left" if eta is not None else ""
        return f"Measuring confidence: {where} · {trained} of {to_train} new restarts done{left}."
    if state == "interrupted":
        return (
            "Interrupted: measuring confidence ended without finishing (the machine restarted or it was "
            "killed). The trained model is unchanged and the restarts finished so far are kept; retry to train the rest."
        )
    took = duration_text(_number(record, "seconds"))
    outcome = record.get("state")
    if outcome == "done":
        return (
            f"Confidence measured across {restarts} restarts in {took}: the Latent graph page shows how often "
            f"each link was found. {text}"
        )
    if outcome == "stopped":
        return (
            f"Measuring confidence stopped on request after {took}; the {trained} new restarts finished "
            f"before the stop are kept, measuring again trains the rest. {text}"
        )
    if outcome == "failed":
        return f"Measuring confidence failed: {record.get('error') or 'no reason was recorded'}. {text}"
    return text


def _refit_name(refit: Mapping[str, Any]) -> str:
    weights = [w for w in refit.get("weights") or [] if isinstance(w, (int, float))]
    if len(weights) == 1:
        return f"Refit at sparsity {weights[0]:g}"
    if weights:
        return f"Refit along sparsity weights {', '.join(f'{w:g}' for w in weights)}"
    return "Refit"


def _refit_line(refit: Mapping[str, Any], state: Any, text: str) -> str:
    """A refit's own sentence: while it runs, its progress; afterwards its outcome, then the training's line."""
    name = _refit_name(refit)
    if state == "queued":
        return f"{name}: waiting to start."
    if state == "running":
        return f"{name}: {text[:1].lower()}{text[1:]}"
    if state == "interrupted":
        return (
            f"Interrupted: the {name[:1].lower()}{name[1:]} ended without finishing (the machine restarted or "
            "it was killed). The trained model is unchanged; retry the refit."
        )
    took = duration_text(_number(refit, "seconds"))
    outcome = refit.get("state")
    if outcome == "done":
        return f"{name} done in {took}. {text}"
    if outcome == "stopped":
        return f"{name} stopped on request after {took}; the levels fitted before the stop are kept. {text}"
    if outcome == "failed":
        return f"{name} failed: {refit.get('error') or 'no reason was recorded'}. {text}"
    return text


def status_line(status: Mapping[str, Any]) -> str:
    """progress_text, with the job-level states it does not know (interrupted, the sparsity-path phase, a
    refit, a confidence measurement); the ETA only once it can be trusted (shown_eta)."""
    state = status.get("state")
    status = {**status, "eta_seconds": shown_eta(status)}
    if status.get("device") == "auto":
        status["device"] = None  # not decided until the job holds a slot
    refit, measuring = _refit(status), _stability(status)
    if state == "interrupted" and refit is None and measuring is None:
        return "Interrupted: the training process ended without finishing (the machine restarted or it was killed)."
    text = progress_text(status)
    if status.get("phase") and state in ("queued", "running") and refit is None:
        text = f"Sparsity path: {text[:1].lower()}{text[1:]}"
    epoch, epochs = _number(status, "epoch"), _number(status, "epochs")
    if state == "done" and epoch is not None and epochs and epoch < epochs:
        text += (
            f" Stopped early at epoch {epoch:.0f} of {epochs:.0f}: the validation loss had stopped improving."
        )
    if refit is not None:
        text = _refit_line(refit, state, text)
    if measuring is not None:
        text = _stability_line(measuring, status, text)
    if status.get("stopping") and state == "running":
        stop = "dropping the restart in progress" if measuring is not None else "saving a checkpoint"
        text = f"Stopping after the current step ({stop})… " + text
    return text


def _metrics(status: Mapping[str, Any]) -> None:
    cols = st.columns(5)
    epoch, epochs = _number(status, "epoch"), _number(status, "epochs")
    cols[0].metric("Epoch", f"{epoch:.0f} / {epochs:.0f}" if epoch is not None and epochs else "—")
    if status.get("state") in ("queued", "running"):
        eta = shown_eta(status)
        waiting = "estimating…" if status.get("state") == "running" else "—"
        cols[1].metric("Time left", duration_text(eta) if eta is not None else waiting)
    else:
        progress = status.get("progress") if isinstance(status.get("progress"), Mapping) else {}
        took = _number(status, "seconds")
        took = took if took is not None else _number(progress, "elapsed_seconds")
        cols[1].metric("Training time", duration_text(took))
    speed = _number(status, "samples_per_second")
    cols[2].metric("Samples / s", f"{speed:,.0f}" if speed is not None else "—")
    cols[3].metric("Device", str(status.get("device") or "—"))
    cols[4].metric("GPU memory", memory_text(status), help="Peak memory of the training process on its GPU.")


def _curves(run: Path, key: str) -> None:
    log = run_cache.metrics_log(run)
    log_y = st.toggle(
        "Log scale", key=f"{key}_log", help="Useful once the loss has fallen by orders of magnitude."
    )
    st.plotly_chart(loss_curves(log, log_y=log_y, height=380), key=f"{key}_curves", width="stretch")


def _stop(run: Path) -> None:
    """Ask the job to stop from a thread of this process: the stop file is written at once and the escalation
    (SIGTERM, then SIGKILL) aims at the process that was running now, never at a job resumed a moment later
    (a detached `crl.jobs --stop` process starts a second later and can catch the resumed job instead)."""
    worker = threading.Thread(
        target=stop_job, args=(run,), kwargs={"wait": True}, daemon=True, name="crl-stop"
    )
    worker.start()
    worker.join(timeout=0.5)  # usually long enough for the job to notice, so the next redraw says so


def draw_status(run: Path, status: Mapping[str, Any], key: str = "job") -> None:
    """Everything about one run's progress, once (the fragment below redraws it)."""
    state = str(status.get("state", "unknown"))
    st.progress(progress_fraction(status), text=escape_markdown(status_line(status)))
    side = _refit(status) or _stability(status)
    what = "The refit" if _refit(status) else "Measuring confidence" if side else "Training"
    if state == "failed":
        error = str(status.get("error") or "no reason was recorded")
        st.error(f"{what} failed: {escape_markdown(error)}", icon=":material/error:")
    elif side is not None and side.get("state") == "failed" and state not in ("queued", "running"):
        error = str(side.get("error") or "no reason was recorded")
        st.error(f"{what} failed: {escape_markdown(error)}", icon=":material/error:")
    _metrics(status)
    if state in ("queued", "running"):
        stopping = bool(status.get("stop_requested") or status.get("stopping"))
        st.button(
            "Stopping…" if stopping else "Stop",
            key=f"{key}_stop",
            icon=":material/stop_circle:",
            on_click=_stop,
            args=(run,),
            disabled=stopping,
            help="The restarts finished so far are kept; measuring again trains the rest."
            if _stability(status)
            else "The job saves a checkpoint and stops; Resume continues from there.",
        )
    _curves(run, key)


def draw_live(
    run: Path, on_finish: Callable[[Path, dict[str, Any]], None] | None = None, key: str = "job"
) -> None:
    """The run's panel, refreshed every POLL_SECONDS while its job is queued or running.

    When a job this session saw alive has ended, `on_finish(run, status)` is called once and the whole page
    reruns (which also stops the timer). A run not active at the first draw is watched every WATCH_SECONDS:
    once a job is active on it, the page reruns and this panel polls.
    """
    alive_at_start = job_status(run)["alive"]
    if not alive_at_start:
        _watch(run)

    @st.fragment(run_every=POLL_SECONDS if alive_at_start else None)
    def panel() -> None:
        status = job_status(run)
        seen = st.session_state.setdefault(SEEN_ALIVE_KEY, [])
        if status["alive"]:
            if str(run) not in seen:
                seen.append(str(run))
        elif str(run) in seen:
            seen.remove(str(run))
            if on_finish is not None:
                on_finish(run, status)
            st.rerun(scope="app")
        draw_status(run, status, key)

    panel()


def _watch(run: Path) -> None:
    """Draws nothing; reruns the page once a job is queued or running on `run`."""

    @st.fragment(run_every=WATCH_SECONDS)
    def watch() -> None:
        if job_status(run)["alive"]:
            st.rerun(scope="app")

    watch()

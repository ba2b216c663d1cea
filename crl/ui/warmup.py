"""Warm the shared caches once per server process, in the background, after the first page is drawn.

A presenter opens the app and then visits page after page: without this, each first visit pays for loading
the cohort (decoding every photograph), the trained model, plotting libraries and the graph template. The
caches are Streamlit's shared ones (st.cache_resource / st.cache_data), so what this thread fills is what
every session's pages read. Set CRL_WARMUP=0 to switch it off (the tests do).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

_LOCK = threading.Lock()
_WARMED: set[tuple[str, str]] = set()
THREAD_NAME = "crl-warmup"
log = logging.getLogger(__name__)


class _QuietWarmup(logging.Filter):
    """Drops Streamlit's "missing ScriptRunContext" warnings that cached calls from this thread would log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName == THREAD_NAME and "ScriptRunContext" in record.getMessage())


def enabled() -> bool:
    return os.environ.get("CRL_WARMUP", "1").strip().lower() not in ("0", "false", "no", "off")


def start(cohort: Path | None, run: Path | None) -> threading.Thread | None:
    """Warm `cohort` and `run` in a daemon thread, once per pair and process; None when there is nothing to do."""
    if not enabled() or cohort is None:
        return None
    key = (str(cohort), str(run))
    with _LOCK:
        if key in _WARMED:
            return None
        _WARMED.add(key)
    for name in ("streamlit.runtime.scriptrunner_utils.script_run_context", "streamlit"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _QuietWarmup) for f in logger.filters):
            logger.addFilter(_QuietWarmup())
    thread = threading.Thread(
        target=warm, args=(Path(cohort), run and Path(run)), name=THREAD_NAME, daemon=True
    )
    thread.start()
    return thread


def steps(cohort: Path, run: Path | None) -> list[tuple[str, object]]:
    """(what, callable) in the order of the sidebar: Cohort, Model, Latent graph, Traversal, Evaluate."""
    from crl.ui import cache, model_cache, run_cache

    def graph_page() -> None:
        from crl.viz.network import latent_network_html

        graph = run_cache.graph(run)
        run_cache.confidence(run)
        names = run_cache.display_names(run, cohort)
        latent_network_html(
            [names.get(n, n) for n in graph.names],
            graph.modality_of,
            graph.weights,
            run_cache.recorded_threshold(run),
        )

    def evaluate_page() -> None:
        if run_cache.has_truth(cohort):
            run_cache.evaluation(run, cohort, run_cache.recorded_threshold(run))
            run_cache.truth_match(run, cohort)

    def traversal_page() -> None:
        if model_cache.has_model(run):
            model_cache.model(run)
            model_cache.encoded(run, model_cache.trained_cohort(run) or cohort)

    def plotting() -> None:
        from crl.viz.style import house_template

        house_template()

    def model_page() -> None:
        from crl.engine.device import device_choices  # imports torch (a second or more)

        device_choices()

    found = [
        ("plotting", plotting),
        ("cohort", lambda: cache.validation(cohort)),
        ("model", model_page),
    ]
    if run is not None:
        found += [("graph", graph_page), ("traversal", traversal_page), ("evaluate", evaluate_page)]
    return found


def warm(cohort: Path, run: Path | None) -> list[str]:
    """Run every step, each on its own: a step that fails (a damaged file) leaves the page to say why.
    Returns the steps that failed."""
    failed = []
    for what, step in steps(cohort, run):
        try:
            step()
        except Exception:  # noqa: BLE001 - the page shows the same error to the user, in words
            log.debug("warming %s for %s failed", what, run or cohort, exc_info=True)
            failed.append(what)
    return failed

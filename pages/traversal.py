"""Traversal page: move one latent for a subject and see every modality decoded, alone or through the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from crl.analysis.names import default_names
from crl.analysis.traversal import acyclic_threshold, largest_change, traversal_values
from crl.errors import CrlError
from crl.ui import cache, model_cache, routing, run_cache, state
from crl.ui import graph_widgets as gw

routing.enter_through_app(__file__)

AVERAGE = "Average subject"
MOVE = "Move this latent only"
INTERVENE = "Intervene: effects follow the graph"
# A modality counts as changed when some value moved by more than this fraction of its usual spread
# (images: of 127.5 grey levels); below it the difference is arithmetic noise.
CHANGE_TOLERANCE = 1e-4

st.title("Traversal")
st.caption(
    "What does a latent do to the data? Pick a latent and a subject, move the latent across a range, and see "
    "every modality decoded from it. In intervention mode the change also flows along the learned graph to "
    "the latents it causes, with the subject's own noise held fixed."
)


def _resolve_cohort(run: Path) -> Path:
    found = model_cache.trained_cohort(run)
    if found is not None:
        return found
    current = state.cohort_dir()
    st.caption(
        f"The run does not record a cohort folder that still exists; subjects come from the current cohort "
        f"**{gw.md(state.cohort_label(current))}**."
    )
    return current


def _labels(run: Path, cohort: Path, latent_names: list[str]) -> dict[str, str]:
    labels = default_names(latent_names, cache.labels(cohort))
    try:
        labels.update(run_cache.display_names(run, cohort))
    except Exception:  # noqa: BLE001 - display names are a nicety (graph.csv or names.json may be damaged)
        pass
    return labels


def _title(modality: str, cohort: Path) -> str:
    """The modality as cohort.toml labels it ("Home sleep test"), else in words ("Fundus left")."""
    return gw.md(cache.labels(cohort).modality(modality))


def _slots(modalities: list[str], kinds: dict[str, str]):
    """(container, modality): images get the full width (their steps are columns); curves and tables go two
    to a row, so modalities sit side by side while each stays readable."""
    pending: list[str] = []

    def flush():
        if len(pending) == 1:
            yield st.container(), pending[0]
        elif pending:
            yield from zip(st.columns(2, gap="medium"), pending, strict=False)
        pending.clear()

    for modality in modalities:
        if kinds[modality] == "image":
            yield from flush()
            yield st.container(), modality
        else:
            pending.append(modality)
            if len(pending) == 2:
                yield from flush()
    yield from flush()


def _size(change: float, kind: str) -> str:
    """The largest change in words: grey levels for images, the usual spread (SD) for signals and tables."""
    if kind == "image":
        return f"by up to {change * 127.5:.3g} grey levels of 255"
    return f"by up to {change:.3g} standard deviations of the cohort (for the feature or channel that moves most)"


def _show(
    change: dict[str, float], kinds: dict[str, str], figures_for, key: str, why_unchanged: str, cohort: Path
) -> None:
    """Modalities that changed, each with a badge and its figure; the unchanged ones folded into one line.

    figures_for(modalities) -> {modality: figure}: only the modalities shown are ever drawn.
    """
    moved = [m for m in change if change[m] > CHANGE_TOLERANCE]
    still = [m for m in change if m not in moved]
    figures = figures_for(moved) if moved else {}
    for slot, modality in _slots(moved, kinds):
        with slot:
            st.markdown(
                f":orange-badge[:material/change_circle: changes] **{_title(modality, cohort)}** "
                f":small[{_size(change[modality], kinds[modality])}]"
            )
            st.plotly_chart(figures[modality], key=f"{key}:{modality}")
    if still:
        listed = ", ".join(f"**{_title(m, cohort)}**" for m in still)
        st.markdown(f":gray-badge[:material/block: unchanged] {listed}: {why_unchanged}")


@st.fragment
def view(run: Path, cohort: Path, labels: dict[str, str]) -> None:
    """Every control and figure; a fragment, so moving a slider reruns only this part of the page."""
    try:
        _view(run, cohort, labels)
    except CrlError as error:
        gw.show_error(error, "Drawing the traversal")
    except Exception as error:  # noqa: BLE001 - a fragment rerun is not covered by the page's own guard
        gw.show_error(error, f"Drawing the traversal of {run.name}")


def _view(run: Path, cohort: Path, labels: dict[str, str]) -> None:
    model, _, normaliser = model_cache.model(run)
    data = model_cache.encoded(run, cohort)
    names = list(model.latent_names)
    kinds = {m: model.schema[m]["kind"] for m in model.names}

    top = st.columns([1.3, 1.3, 1.4], gap="medium")
    latent = top[0].selectbox(
        "Latent",
        range(len(names)),
        format_func=lambda i: f"{labels.get(names[i], names[i])} ({names[i]})",
        key=f"traversal-latent:{run}",
        help="The latent variable to move. Names can be edited on the Latent graph page.",
    )
    subjects = [AVERAGE, *data.subject_ids]
    subject_choice = top[1].selectbox(
        "Subject",
        subjects,
        key=f"traversal-subject:{run}:{cohort}",
        help="Whose other latents and modality-specific part stay fixed. The average subject holds every "
        "latent at its cohort mean. Type to search by subject ID.",
    )
    subject = None if subject_choice == AVERAGE else subject_choice
    mode = top[2].radio(
        "Mode",
        [MOVE, INTERVENE],
        key=f"traversal-mode:{run}",
        horizontal=False,
        help="Moving a latent alone shows what the decoders read from it. An intervention do(latent = value) "
        "also moves every latent downstream of it in the learned graph, as the model says the world would.",
    )

    controls = st.columns([2.2, 1, 1, 1.2], gap="medium")
    spread = controls[1].select_slider(
        "Range (± SD)",
        options=[1.0, 1.5, 2.0, 2.5, 3.0, 4.0],
        value=2.0,
        key=f"traversal-spread:{run}",
        help="The latent moves over the cohort mean ± this many standard deviations of the latent.",
    )
    steps = controls[2].select_slider(
        "Steps",
        options=[3, 5, 7, 9, 11],
        value=7,
        key=f"traversal-steps:{run}",
        help="Small multiples shown.",
    )
    threshold = None
    if mode == INTERVENE:
        recorded = run_cache.recorded_threshold(run)
        threshold = controls[3].slider(
            "Link strength threshold",
            min_value=0.05,
            max_value=1.0,
            value=float(min(max(recorded, 0.05), 1.0)),
            step=0.01,
            key=f"traversal-threshold:{run}",
            help=f"Links at least this strong carry the intervention. The run's own threshold is {recorded:g}.",
        )
    values = traversal_values(data.z, latent, spread, steps)
    z_subject, _ = model_cache.subject_latents(data, subject)
    own = float(z_subject[latent])
    step = controls[0].select_slider(
        "Current value",
        options=list(range(len(values))),
        value=int(np.argmin(np.abs(values - own))),
        format_func=lambda k: f"{values[k]:+.2f}",
        key=f"traversal-value:{run}:{latent}:{subject}:{spread}:{steps}",
        help="The highlighted step. It starts at the step nearest the subject's own value.",
    )
    value = float(values[step])
    latent_label = labels.get(names[latent], names[latent])
    who = f"the average subject of {data.cohort_name}" if subject is None else f"subject {subject}"
    st.caption(
        f"**{gw.md(latent_label)}** from {values[0]:+.2f} to {values[-1]:+.2f} (cohort mean ± {spread:g} SD) "
        f"for {gw.md(who)}, whose own value is {own:+.2f}. Current value {value:+.2f}."
    )
    confidence = run_cache.confidence(run)
    reason = confidence.weak_reason(names[latent]) if confidence is not None else None
    if reason is not None:
        st.warning(
            f"**{gw.md(latent_label)}**: {gw.md(reason)} What it does to the data below may not be a real cause.",
            icon=":material/report:",
        )

    if mode == MOVE:
        decoded = model_cache.traversal(run, cohort, subject, latent, values, None)
        _show(
            largest_change(decoded, {m: x[:1] for m, x in decoded.items()}, normaliser),
            kinds,
            lambda shown: model_cache.traversal_figures(
                run, cohort, subject, latent, values, None, shown, step, latent_label
            ),
            "move",
            "their decoders read only their own modality's latents (intervention mode follows the graph).",
            cohort,
        )
        return

    try:
        result = model_cache.intervention(run, cohort, subject, latent, value, threshold)
    except CrlError as error:
        better = acyclic_threshold(model.strengths(), threshold)
        hint = (
            f" At a threshold of {better:.2f} or more the links form no cycle."
            if better is not None and better > threshold
            else ""
        )
        st.warning(gw.md(error) + hint, icon=":material/warning:")
        return
    label = f"do({latent_label} = {value:+.2f})"
    _changed_latents(result.changed, names, labels, latent, value, threshold)
    change = largest_change(result.after, result.before, normaliser)
    if max(change.values(), default=0.0) <= CHANGE_TOLERANCE:
        st.info(
            "The current value is this subject's own value of the latent, so the intervention changes nothing: "
            "move the Current value slider.",
            icon=":material/info:",
        )
    else:
        _show(
            change,
            kinds,
            lambda shown: model_cache.intervention_figures(
                run, cohort, subject, latent, value, threshold, shown, label
            ),
            "intervention",
            "none of their latents is the one set or downstream of it.",
            cohort,
        )
    st.subheader("Across the range")
    st.caption(
        f"Each step is do({gw.md(latent_label)} = value) with its effects propagated through the graph; the "
        "current value is the one shown above."
    )
    decoded = model_cache.traversal(run, cohort, subject, latent, values, threshold)
    # No highlighted step here: these figures stay the same while the slider moves, so they come from the cache.
    _show(
        largest_change(decoded, {m: x[:1] for m, x in decoded.items()}, normaliser),
        kinds,
        lambda shown: model_cache.traversal_figures(
            run, cohort, subject, latent, values, threshold, shown, None, latent_label
        ),
        "do",
        "no latent of theirs is downstream of the one set, at this threshold.",
        cohort,
    )


def _changed_latents(
    changed: dict, names: list[str], labels: dict[str, str], latent, value, threshold
) -> None:
    latent_label = labels.get(names[latent], names[latent])
    downstream = [n for n in changed if n != names[latent]]
    if downstream:
        listed = ", ".join(labels.get(n, n) for n in downstream)
        st.markdown(
            f"**do({gw.md(latent_label)} = {value:+.2f})** at link threshold {threshold:g} also moves "
            f"{len(downstream)} latent{'s' if len(downstream) > 1 else ''} downstream: {gw.md(listed)}."
        )
    else:
        st.markdown(
            f"**do({gw.md(latent_label)} = {value:+.2f})**: at link threshold {threshold:g} nothing is downstream "
            "of it, so only its own modality changes. Lower the threshold to follow weaker links."
        )
    table = pd.DataFrame(
        {
            "Latent": [labels.get(n, n) for n in changed],
            "Role": ["set by the intervention" if n == names[latent] else "downstream" for n in changed],
            "Before": [float(b) for b, _ in changed.values()],
            "After": [float(a) for _, a in changed.values()],
        }
    )
    table["Change"] = table["After"] - table["Before"]
    number = st.column_config.NumberColumn
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "Before": number(format="%.3f"),
            "After": number(format="%.3f"),
            # Effects through weak mechanisms can be tiny: significant digits, never a misleading 0.000.
            "Change": number(format="%+.3g"),
        },
    )


run = gw.run_picker("traversal-run")
if run is None:
    gw.no_runs("traversal")
    st.stop()

if not model_cache.has_model(run):
    st.warning(
        f"**{gw.md(run.name)}** has no trained model yet (model.pt and model.json are written when training "
        "finishes): it may still be training, or it stopped early. Check it on the Train page, or pick another "
        "run above."
    )
    st.page_link("pages/train.py", label="Go to the Train page", icon=":material/model_training:")
    st.stop()

try:
    loaded, _, _ = model_cache.model(run)
    cohort = _resolve_cohort(run)
    model_cache.encoded(run, cohort)
except Exception as error:  # noqa: BLE001 - a damaged checkpoint or a cohort that does not fit: say so
    gw.show_error(error, f"Loading the trained model {run.name}")
    st.stop()

view(run, cohort, _labels(run, cohort, list(loaded.latent_names)))

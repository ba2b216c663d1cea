"""The report's traversal figures: what the model draws as each latent moves alone, for the average subject.

As on the Traversal page in its "move this latent only" mode, a latent moves from the cohort mean - 2 SD to
+ 2 SD in 7 steps with every other latent held; only its own modality changes (each decoder reads only its own
modality's latents), so each latent gets one figure, of that modality. The average subject is the mean over at
most MAX_SUBJECTS subjects spread evenly over the cohort: encoding every subject of a large cohort would cost
seconds per thousand and move the mean very little.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crl.analysis.report_inputs import ReportInputs
from crl.analysis.traversal import cohort_posterior, mean_subject, traversal_values, traverse
from crl.data.cohort import Cohort
from crl.data.labels import Labels
from crl.errors import CrlError
from crl.graphs.names import split_latent_name
from crl.viz import report_html as page
from crl.viz.report_html import esc

MAX_SUBJECTS = 500
STEPS = 7
SPREAD = 2.0


@dataclass(frozen=True)
class LatentTraversal:
    """One latent's traversal: its id, the modality it moves, the values it took and the plotly figure."""

    latent: str
    modality: str
    values: np.ndarray
    figure: object  # plotly.graph_objects.Figure


@dataclass(frozen=True)
class Traversals:
    """Every latent's traversal and how many subjects the average subject was taken over (of how many)."""

    latents: list[LatentTraversal]
    subjects: int
    cohort_subjects: int


def sample_cohort(cohort: Cohort, limit: int = MAX_SUBJECTS) -> Cohort:
    """The cohort itself when it has at most `limit` subjects, else `limit` subjects evenly spaced over it."""
    n = len(cohort)
    if n <= limit:
        return cohort
    rows = np.unique(np.linspace(0, n - 1, limit).round().astype(int))
    modalities = {name: dataclasses.replace(m, data=m.data[rows]) for name, m in cohort.modalities.items()}
    covariates = cohort.covariates.iloc[rows] if cohort.covariates is not None else None
    return dataclasses.replace(
        cohort, subject_ids=cohort.subject_ids[rows], modalities=modalities, covariates=covariates
    )


def latent_traversals(
    run_dir: Path, cohort: Cohort, labels: Mapping[str, str], display: Labels | None = None
) -> Traversals:
    """Every latent's traversal figure, labelled with `labels` (latent id -> display name) and `display`
    (modality, channel and column names and time axes from cohort.toml).

    Raises RunError when the run has no usable model or the cohort does not fit it (crl.runs.checkpoint).
    """
    from crl.runs.checkpoint import load_run
    from crl.viz.traversal import traversal_figure

    model, _, normaliser = load_run(Path(run_dir), device="cpu")
    sample = sample_cohort(cohort)
    z, eta = cohort_posterior(model, sample, normaliser)
    base_z, base_eta = mean_subject(z, eta)
    kinds = {m: model.schema[m]["kind"] for m in model.names}
    display = display or Labels()
    features = {m: display.features_of(m, model.schema[m]["features"]) for m in model.names}
    time_axes = display.time_axes(model.schema)
    scale = {m: np.asarray(normaliser.scale[m]).ravel() for m in model.names if kinds[m] == "tabular"}
    found = []
    for index, latent in enumerate(model.latent_names):
        modality = split_latent_name(latent)[0]
        values = traversal_values(z, index, SPREAD, STEPS)
        decoded = traverse(model, normaliser, base_z, base_eta, index, values)
        figure = traversal_figure(
            values,
            {modality: decoded[modality]},
            kinds,
            features,
            latent_name=labels.get(latent, latent),
            feature_scale=scale,
            titles={modality: display.modality(modality)},
            time_axes=time_axes,
        )[modality]
        found.append(LatentTraversal(latent, modality, values, figure))
    return Traversals(found, len(sample), len(cohort))


def traversals_section(x: ReportInputs) -> tuple[str, str | None]:
    """The section's body and, when there are no figures, why not."""
    if x.cohort is None:
        why = (
            "No traversal figures: they are drawn from the cohort the run was trained on, and "
            f"{x.missing_cohort}. Give its folder (crl report RUN --cohort DIR) to include them."
        )
        return page.paragraph(why, "warn"), why
    try:
        found = latent_traversals(x.run.path, x.cohort, x.labels, x.display)
    except CrlError as error:
        why = f"No traversal figures: {error}"
        return page.paragraph(why, "warn"), why
    drivers = x.drivers
    subjects = (
        f"the average of {found.subjects:,} subjects spread evenly over the cohort's "
        f"{found.cohort_subjects:,}"
        if found.subjects < found.cohort_subjects
        else f"the average of the cohort's {found.cohort_subjects:,} subjects"
    )
    parts = [
        page.paragraph(
            f"What the model draws as one latent moves from the cohort mean − {SPREAD:g} SD to "
            f"+ {SPREAD:g} SD in {STEPS} steps, everything else held at {subjects}. Only the latent's own "
            "modality changes: each modality is drawn from its own latents. This shows what the model "
            "reads from a latent, not what changing it would cause; the dashboard's Traversal page also "
            "follows the graph."
        )
    ]
    for k, item in enumerate(found.latents):
        label = x.labels.get(item.latent, item.latent)
        parts.append(f'<h3 id="latent-{k}">{esc(label)} <span class="faded">({esc(item.latent)})</span></h3>')
        reason = x.confidence.weak_reason(item.latent) if x.confidence is not None else None
        if reason:
            parts.append(page.paragraph(reason, "warn"))
        if drivers.get(item.latent):
            parts.append(page.paragraph(f"Moves most with: {drivers[item.latent]}", "note"))
        parts.append(
            item.figure.to_html(
                full_html=False,
                include_plotlyjs=k == 0,  # plotly.js once, inline: the file opens offline
                div_id=f"traversal-{k}",
                config={"displaylogo": False, "responsive": True},
            )
        )
    return "\n".join(parts), None

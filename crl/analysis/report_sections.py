"""The report's sections as HTML (crl.viz.report_html pieces): summary, graph, identifiability, metrics
against the truth, settings and data. Each takes what crl.analysis.report_inputs read; all text is escaped."""

from __future__ import annotations

import json
import math

from crl.analysis.report_inputs import ReportInputs
from crl.errors import CrlError
from crl.graphs.identifiability import IdentifiabilityReport
from crl.viz import report_html as page
from crl.viz.report_html import esc, number, table

KINDS = {"tabular": "table of measurements", "timeseries": "time series", "image": "images"}


def _modalities_sentence(schema: dict, x: ReportInputs) -> str:
    return ", ".join(
        f"{x.display.modality(m)} ({KINDS.get(s.get('kind'), s.get('kind'))})" for m, s in schema.items()
    )


def _recorded_cohort(x: ReportInputs) -> dict:
    """What config.json recorded of the cohort (name, n_subjects, schema), {} when nothing usable."""
    recorded = x.run.config.get("cohort")
    if not isinstance(recorded, dict):
        return {}
    schema = recorded.get("schema")
    schema = {m: s for m, s in schema.items() if isinstance(s, dict)} if isinstance(schema, dict) else {}
    return {**recorded, "schema": schema}


def _trust_sentence(x: ReportInputs) -> str:
    if x.confidence is None:
        return "How reliably each latent was recovered could not be measured. "
    text = (
        f"It was trained from {x.confidence.restarts} starting points to measure how far each result holds. "
        if x.confidence.has_restarts
        else "It was trained once, so how far each link would hold in another training is not known. "
    )
    weak = [n for n in x.graph.names if x.confidence.is_weak(n)]
    if weak:
        return text + f"{len(weak)} of the latents are not reliably recovered and should not be interpreted. "
    return text + "No latent is flagged as unreliable. "


def _truth_sentence(metrics: dict | None) -> str:
    if metrics is None:
        return "The true graph is not known for this cohort, so how well it was recovered cannot be measured."
    text = f"Against the known truth, the latents are recovered with an MCC of {metrics['mcc']:.2f}"
    text += " (1 is perfect)"
    if "shd" not in metrics:
        return text + "."
    f1 = metrics["graph"]["adjacency_f1"]
    return text + f" and the graph is {metrics['shd']} edits from the true one (edge F1 {f1:.2f})."


def summary_section(x: ReportInputs, metrics: dict | None, ident: IdentifiabilityReport) -> str:
    """One paragraph: the cohort, the modalities, what was learned, how far to trust it, how well it did."""
    recorded = _recorded_cohort(x)
    name = x.cohort.name if x.cohort is not None else recorded.get("name", "unknown")
    subjects = len(x.cohort) if x.cohort is not None else recorded.get("n_subjects")
    schema = x.cohort.schema() if x.cohort is not None else recorded.get("schema", {})
    edges = x.graph.edges(x.threshold)
    cross = int(edges["cross_modal"].sum())
    text = f"Run {x.run.name} was trained on the cohort {name}"
    text += f" ({subjects:,} subjects)" if isinstance(subjects, int) else ""
    text += f", with {len(schema)} modalities: {_modalities_sentence(schema, x)}. "
    text += (
        f"The model learned {len(x.graph.names)} latent variables and keeps {len(edges)} links between them "
        f"at a strength of at least {x.threshold:g}, {cross} of them across modalities. "
    )
    text += _trust_sentence(x)
    blocked = len(ident.block_only)
    text += (
        "The data can pin every latent down one by one. "
        if ident.identified
        else f"The data pin {blocked} latents down only together with others of their modality. "
    )
    return f"<p>{esc(text + _truth_sentence(metrics))}</p>"


def graph_section(x: ReportInputs) -> str:
    from crl.viz.layout import wrap_label
    from crl.viz.network_svg import latent_network_svg

    names = list(x.graph.names)
    weak = {
        i: r for i, n in enumerate(names) if x.confidence is not None and (r := x.confidence.weak_reason(n))
    }
    svg = latent_network_svg(
        [wrap_label(x.labels[n]) for n in names],
        [x.display.modality(m) for m in x.graph.modality_of],
        x.graph.weights,
        x.threshold,
        list(weak),
    )
    parts = [
        page.paragraph(
            "Each circle is a latent variable the model learned, coloured by the modality it describes. "
            "Arrows point from cause to effect; thicker arrows are stronger links. Links of strength "
            f"{x.threshold:g} or more are drawn. Only links across modalities can be identified from data."
        ),
        f'<div class="figure">{svg}</div>',
    ]
    if weak:
        parts.append(
            page.paragraph(
                "Not reliably recovered (drawn faded): do not interpret these latents or their links.",
                "warn",
            )
        )
        parts.append(page.bullets([f"{x.labels[names[i]]}: {reason}" for i, reason in weak.items()]))
    parts.append("<h3>Links</h3>")
    edges = x.graph.edges(x.threshold)
    measured = x.confidence is not None and x.confidence.edges is not None
    if len(edges) == 0:
        parts.append(page.paragraph(f"No link reaches a strength of {x.threshold:g}."))
    else:
        headers = ["From", "To", "Across modalities", "Strength"]
        rows = []
        for row in edges.itertuples():
            cells = [
                x.labels[row.source],
                x.labels[row.target],
                "yes" if row.cross_modal else "no",
                number(row.weight),
            ]
            if measured:
                frequency, effect = x.confidence.link(row.source, row.target)
                cells += ["—" if math.isnan(frequency) else f"{frequency:.0%}", number(effect)]
            rows.append(cells)
        if measured:
            headers += [f"Found in (of {x.confidence.restarts} restarts)", "Effect (SD per SD of the cause)"]
        parts.append(table(headers, rows, numeric=range(3, len(headers))))
        if not measured:
            parts.append(
                page.paragraph(
                    "How often each link is found again and how large its effect is are measured by "
                    "training the model from several starting points (the crl stability command, or "
                    "Measure confidence on the Train page); this run has not been.",
                    "note",
                )
            )
    parts.append("<h3>Latents</h3>")
    parts.append(_latents_table(x))
    return "\n".join(parts)


def _latents_table(x: ReportInputs) -> str:
    drivers = x.drivers
    headers = ["Name", "Latent", "Modality"]
    stability = x.confidence is not None and x.confidence.stability is not None
    cross = x.confidence is not None and x.confidence.cross_modal is not None
    headers += ["Agreement across restarts"] if stability else []
    headers += ["Share predicted by other modalities"] if cross else []
    headers += ["Moves most with"] if drivers else []
    headers += ["Reliable"]
    rows = []
    for name, modality in zip(x.graph.names, x.graph.modality_of, strict=True):
        cells = [x.labels[name], name, x.display.modality(modality)]
        if stability:
            cells.append(number(x.confidence.stability_of(name)))
        if cross:
            share = x.confidence.cross_modal_of(name)
            cells.append("—" if share is None else f"{max(share, 0.0):.0%}")
        if drivers:
            cells.append(drivers.get(name, ""))
        cells.append("no" if x.confidence is not None and x.confidence.is_weak(name) else "yes")
        rows.append(cells)
    return table(headers, rows)


def identifiability_section(x: ReportInputs, report: IdentifiabilityReport) -> str:
    if report.identified:
        head = page.paragraph(
            f"At the link threshold of {x.threshold:g}, every latent can be pinned down one by one by the "
            f"data ({report.cross_links} links across modalities make that possible).",
            "ok",
        )
    else:
        blocked = ", ".join(
            x.display.modality(m.name) for m in report.modalities.values() if not m.identified
        )
        head = page.paragraph(
            f"In {blocked}, some latents are identified only together with others of their modality: the "
            f"data cannot separate them one by one at the link threshold of {x.threshold:g}. Read them as a "
            "group.",
            "warn",
        )
    items = []
    for m in report.modalities.values():
        if m.identified:
            items.append(
                f"{x.display.modality(m.name)} ({len(m.latents)} latents): each one is pinned down on its own."
            )
            continue
        line = f"{x.display.modality(m.name)}: identified only as a block: {', '.join(m.block_only)}."
        if m.pinned:
            line += f" Still pinned down one by one: {', '.join(m.pinned)}."
        if m.witness:
            line += f" {m.witness.text}"
        items.append(line)
    how = page.paragraph("How this is decided: " + " ".join(report.limits), "note")
    return "\n".join([head, page.bullets(items), how])


def metrics_section(x: ReportInputs) -> tuple[dict | None, str | None]:
    """(evaluate's metrics, or None) and the section's body (None when the cohort has no truth)."""
    from crl.analysis.evaluate import score
    from crl.data.truth import load_truth

    if x.cohort_path is None or not (x.cohort_path / "truth").is_dir():
        return None, None
    try:
        result = score(
            x.latents, x.run.graph_table(), load_truth(x.cohort_path), threshold=x.threshold, r2=False
        )
    except CrlError as error:
        return None, page.paragraph(f"The comparison with the truth failed: {error}", "warn")
    graph = result.get("graph") or {}
    rows = [
        (
            "Latent recovery (MCC)",
            number(result["mcc"]),
            "How closely each learned latent follows its true one: mean |correlation| after matching, "
            "1 is perfect.",
        ),
        *[
            (f"MCC in {x.display.modality(m)}", number(v), "The same within this modality.")
            for m, v in result["mcc_per_modality"].items()
        ],
    ]
    if graph:
        cross = result.get("shd_cross_modal")
        rows += [
            (
                "Graph distance (SHD)",
                str(result["shd"]),
                "Links to add, remove or reverse to reach the true graph; 0 is perfect.",
            ),
            (
                "SHD across modalities",
                "—" if cross is None else str(cross),
                "The same count on links between modalities, the part the method can identify.",
            ),
            (
                "Edge F1, ignoring direction",
                number(graph["adjacency_f1"]),
                "How well the linked pairs match the true ones; 1 is perfect.",
            ),
            (
                "Edge F1, with direction",
                number(graph["orientation_f1"]),
                "The same, counting a link only when its direction is right too.",
            ),
        ]
    body = page.paragraph(
        "The cohort is synthetic, so its true latents and graph are known. Learned latents are matched to "
        f"true ones within each modality ({result['subjects']:,} subjects); links at strength "
        f"{x.threshold:g} or more count."
    )
    return result, body + table(["Measure", "Value", "What it means"], rows, numeric=[1])


def _flatten(prefix: str, value: object, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, rows)
    else:
        rows.append((prefix, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))


def settings_section(x: ReportInputs) -> str:
    status, config = x.run.training_status, x.run.config
    progress = status.get("progress") if isinstance(status.get("progress"), dict) else {}
    facts = [
        ("State", status.get("state", "unknown")),
        ("Epochs trained", status.get("epochs_run", progress.get("epoch", "—"))),
        ("Best epoch (validation)", status.get("best_epoch", "—")),
        ("Training time (s)", number(status.get("seconds"), 0)),
        (
            "Subjects for training / validation",
            f"{status.get('n_train', '—')} / {status.get('n_validation', '—')}",
        ),
        ("Device", config.get("device", status.get("device", "—"))),
        ("Created", config.get("created", "—")),
        ("Versions", ", ".join(f"{k} {v}" for k, v in (config.get("versions") or {}).items()) or "—"),
    ]
    rows: list[tuple[str, str]] = []
    _flatten("", config.get("config") or {}, rows)
    return (
        table(["Training", ""], facts)
        + page.paragraph(
            "Every setting the run was trained with (its config.json), named as crl train --set names them.",
            "note",
        )
        + table(["Setting", "Value"], rows)
    )


def data_section(x: ReportInputs) -> str:
    from crl.data.summary import covariate_summary

    if x.cohort is None:
        recorded = _recorded_cohort(x)
        schema = recorded.get("schema", {})
        head = page.paragraph(
            f"The cohort was not at hand ({x.missing_cohort}); this is what the run recorded of it: "
            f"cohort {recorded.get('name', 'unknown')}, "
            f"{recorded.get('n_subjects', 'an unknown number of')} subjects.",
            "note",
        )
        rows = [
            (
                x.display.modality(m),
                KINDS.get(s.get("kind"), s.get("kind")),
                " × ".join(map(str, s.get("shape", []))),
                ", ".join(x.display.features_of(m, map(str, s.get("features", [])))),
                s.get("latents", "—"),
            )
            for m, s in schema.items()
        ]
        return head + table(["Modality", "Kind", "Shape", "Features or channels", "Latents"], rows)
    cohort = x.cohort
    # Subjects the run trained on although they lack a modality (train.missing_modalities = "infer").
    inferred = len(set(map(str, x.latents.index)) - set(map(str, cohort.subject_ids)))
    left_out = len(cohort.excluded) - inferred
    head = page.paragraph(
        f"Cohort {cohort.name}: {len(cohort):,} subjects present in every modality"
        + (
            f"; {inferred:,} more lacking a modality were trained on, the latents of what they lack inferred "
            "from their other modalities"
            if inferred
            else ""
        )
        + (
            f"; {left_out:,} more were left out (missing from a modality or unusable)."
            if left_out > 0
            else "."
        )
    )
    rows = [
        (
            x.display.modality(m.name),
            KINDS.get(m.kind, m.kind),
            " × ".join(map(str, m.shape)),
            _first(x.display.features_of(m.name, m.feature_names)),
            m.latents,
        )
        for m in cohort.modalities.values()
    ]
    out = head + table(["Modality", "Kind", "Shape of one subject", "Features or channels", "Latents"], rows)
    if cohort.covariates is not None and len(cohort.covariates.columns):
        summary = covariate_summary(cohort.covariates)
        out += "<h3>Clinical covariates</h3>" + table(
            ["Covariate", "Type", "Missing", "Mean", "SD", "Commonest values"],
            [
                (x.display.covariate(r.covariate), r.type, r.missing, number(r.mean), number(r.sd), r.levels)
                for r in summary.itertuples()
            ],
            numeric=[2, 3, 4],
        )
    return out


def _first(names: list[str], shown: int = 8) -> str:
    more = f", … {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(map(str, names[:shown])) + more

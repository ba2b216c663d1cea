"""The graph as two tables beside the network: every latent and every shown link with its details, for
keyboard and screen-reader users and for anyone who would rather sort than hover."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from crl.analysis.graph import LatentGraph


def latent_table(
    graph: LatentGraph, labels: list[str], confidence, drivers: list[str], modalities: list[str] | None = None
) -> pd.DataFrame:
    """One row per latent: name, modality, stability and cross-modal share when measured, why not to trust it,
    and what it moves with (`drivers`: crl.analysis.drivers.describe_drivers text per latent). `modalities`:
    each latent's modality as shown (default its raw name)."""
    rows = []
    shown = graph.modality_of if modalities is None else modalities
    for name, label, modality, detail in zip(graph.names, labels, shown, drivers, strict=True):
        reason = confidence.weak_reason(name) if confidence is not None else None
        rows.append(
            {
                "Latent": label,
                "Modality": modality,
                "Stability": confidence.stability_of(name) if confidence is not None else None,
                "Cross-modal share": confidence.cross_modal_of(name) if confidence is not None else None,
                "Can it be believed?": reason or "nothing speaks against it",
                "Moves with": " ".join(detail.splitlines()[1:])
                if detail.startswith("Moves most with")
                else "",
            }
        )
    return pd.DataFrame(rows)


def link_table(
    graph: LatentGraph, labels: list[str], threshold: float, cross_only: bool, confidence, measure: str
) -> pd.DataFrame:
    """One row per link drawn: cause, effect, its weight (`measure`), across or within modalities, and how often
    restarts found it and its effect when measured."""
    label = dict(zip(graph.names, labels, strict=True))
    edges = graph.edges(threshold, cross_modal_only=cross_only)
    table = pd.DataFrame(
        {
            "Cause": [label[s] for s in edges["source"]],
            "Effect": [label[t] for t in edges["target"]],
            measure: edges["weight"],
            "Across modalities": edges["cross_modal"],
        }
    )
    if confidence is not None and confidence.edges is not None:
        found = [confidence.link(s, t) for s, t in zip(edges["source"], edges["target"], strict=True)]
        table["Found in restarts"] = [f for f, _ in found]
        if measure != "Effect size":
            table["Effect size"] = [e for _, e in found]
    return table


def draw_tables(latents: pd.DataFrame, links: pd.DataFrame) -> None:
    st.caption(
        "The graph above as tables: sort by a column header; every cell is reachable with the keyboard."
    )
    st.dataframe(
        latents,
        hide_index=True,
        width="stretch",
        column_config={
            "Stability": st.column_config.NumberColumn(format="%.2f", help="Agreement across restarts, 0-1."),
            "Cross-modal share": st.column_config.NumberColumn(
                format="%.2f", help="How much of it the other modalities' latents predict (held-out R²)."
            ),
        },
    )
    if links.empty:
        st.caption("No link is shown at this threshold.")
        return
    st.dataframe(
        links,
        hide_index=True,
        width="stretch",
        column_config={
            "Found in restarts": st.column_config.NumberColumn(format="%.2f", help="Share of restarts, 0-1."),
            "Effect size": st.column_config.NumberColumn(
                format="%+.2f", help="SD of the effect per SD of the cause."
            ),
            "Strength": st.column_config.NumberColumn(format="%.2f"),
        },
    )

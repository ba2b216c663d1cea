"""Cohort page: pick a cohort folder or a synthetic preset, see its validation report and a summary."""

from pathlib import Path

import pandas as pd
import streamlit as st

from crl.ui import cache, demo, state

st.title("Cohort")
st.caption("Load the data the model learns from, and check it before training.")

source = st.radio(
    "Cohort source",
    ["Built-in demo", "Synthetic preset", "Folder on this server"],
    horizontal=True,
)
if source == "Built-in demo":
    state.set_cohort_dir(demo.demo_cohort_dir())
elif source == "Synthetic preset":
    from crl.data.synthetic import PRESETS, write_preset

    col1, col2, col3 = st.columns([2, 1, 1])
    preset = col1.selectbox("Preset", sorted(PRESETS))
    n = col2.number_input("Subjects", min_value=50, max_value=20000, value=2000, step=500)
    seed = col3.number_input("Seed", min_value=0, value=0, step=1)
    if st.button("Generate", type="primary"):
        target = demo.cache_root() / "synthetic" / f"{preset}-n{n}-s{seed}"
        with st.spinner(f"Writing {preset}…"):
            write_preset(preset, target, n=int(n), seed=int(seed), overwrite=True)
        state.set_cohort_dir(target)
elif source == "Folder on this server":
    folder = st.text_input("Cohort folder (containing cohort.toml)", value=str(state.cohort_dir()))
    if st.button("Open", type="primary"):
        state.set_cohort_dir(Path(folder).expanduser())

folder = state.cohort_dir()
report = cache.validation(folder)
errors = [p for p in report.problems if p.severity == "error"]
warnings = [p for p in report.problems if p.severity != "error"]
if report.ok:
    st.success(f"**{state.cohort_dir().name}** can be trained on. {len(warnings)} warning(s).")
else:
    st.error(f"**{state.cohort_dir().name}** cannot be trained on yet: {len(errors)} problem(s) to fix.")
if report.ok:
    cohort = cache.cohort(folder)
    cols = st.columns(3)
    cols[0].metric("Subjects used", f"{len(cohort):,}")
    cols[1].metric("Modalities", len(cohort.modalities))
    cols[2].metric("Subjects left out", len(cohort.excluded), help="present in some modalities but not all")
    st.subheader("Modalities")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "modality": name,
                    "kind": m.kind,
                    "shape per subject": " × ".join(map(str, m.shape)),
                    "features / channels": ", ".join(m.feature_names[:8]) + (" …" if len(m.feature_names) > 8 else ""),
                    "latents": m.latents,
                }
                for name, m in cohort.modalities.items()
            ]
        ),
        hide_index=True,
        width="stretch",
    )
if report.problems:
    st.subheader("Problems and warnings")
    st.dataframe(
        pd.DataFrame(
            [{"severity": p.severity, "where": p.where, "problem": p.message, "how to fix": p.fix} for p in report.problems]
        ),
        hide_index=True,
        width="stretch",
    )

"""Where the cohort comes from: the built-in demo, a synthetic preset, a folder on the server, or uploaded files."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from crl.data.cache import cache_root
from crl.ui import demo, state
from crl.ui.cohort_upload import draw_upload_form
from crl.ui.markdown import escape_markdown

DEMO, PRESET, FOLDER, UPLOAD = "Built-in demo", "Synthetic preset", "Folder on this server", "Upload files"
SOURCES = (DEMO, PRESET, FOLDER, UPLOAD)
HELP = {
    DEMO: "A ready-made study look-alike to explore the dashboard with.",
    PRESET: "Simulated cohorts whose true latent graph is known: for checking the method.",
    FOLDER: "A cohort folder (with cohort.toml) on the computer running this dashboard.",
    UPLOAD: "Tables, arrays or zipped images from your computer, described here: no code needed.",
}
_MODE = "cohort_source_mode"  # survives page switches (a widget's own state does not)
_WIDGET = "cohort_source_widget"
MAX_SUBJECTS = 20_000


def _inferred_mode() -> str:
    """The source that produced the current cohort, for a first visit to the page."""
    current = state.cohort_dir().resolve()
    if current == demo.demo_cohort_dir().resolve():
        return DEMO
    root = cache_root().resolve()
    if current.is_relative_to(root / "synthetic"):
        return PRESET
    if current.is_relative_to(root / "uploads"):
        return UPLOAD
    return FOLDER


def _mode_changed() -> None:
    mode = st.session_state[_WIDGET]
    st.session_state[_MODE] = mode
    if mode == DEMO:
        state.set_cohort_dir(demo.demo_cohort_dir())


def draw_source_picker() -> str:
    """The source radio and the controls of the chosen source; returns the chosen source."""
    if _MODE not in st.session_state:
        st.session_state[_MODE] = _inferred_mode()
    mode = st.radio(
        "Where the data comes from",
        SOURCES,
        index=SOURCES.index(st.session_state[_MODE]),
        horizontal=True,
        key=_WIDGET,
        on_change=_mode_changed,
        captions=None,
    )
    st.caption(HELP[mode])
    if mode == PRESET:
        _draw_preset()
    elif mode == FOLDER:
        _draw_folder()
    elif mode == UPLOAD:
        draw_upload_form()
    return mode


def _draw_preset() -> None:
    from crl.data.synthetic import PRESETS, write_preset

    names = list(PRESETS)
    col_preset, col_n, col_seed, col_go = st.columns([3, 1.2, 1, 1.2], vertical_alignment="bottom")
    preset = col_preset.selectbox(
        "Preset", names, index=names.index("demo") if "demo" in names else 0, key="cohort_preset"
    )
    spec = PRESETS[preset]
    n = col_n.number_input(
        "Subjects",
        min_value=50,
        max_value=MAX_SUBJECTS,
        value=min(spec.n, 2_000),
        step=250,
        key=f"cohort_preset_n_{preset}",
        help=f"The preset's usual size is {spec.n:,}; smaller cohorts generate and train faster.",
    )
    seed = col_seed.number_input(
        "Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="cohort_preset_seed"
    )
    generate = col_go.button("Generate", type="primary", key="cohort_preset_generate", width="stretch")
    st.caption(escape_markdown(spec.description))
    if generate:
        target = cache_root() / "synthetic" / f"{preset}-n{int(n)}-seed{int(seed)}"
        if not (target / "cohort.toml").exists():
            with st.spinner(f"Generating {int(n):,} synthetic subjects…"):
                write_preset(preset, target, n=int(n), seed=int(seed), overwrite=True)
        state.select_cohort(
            target, f"Synthetic cohort '{preset}' ({int(n):,} subjects, seed {int(seed)}) ready."
        )


def _draw_folder() -> None:
    current = state.cohort_dir()
    default = "" if _inferred_mode() in (DEMO, PRESET, UPLOAD) else str(current)
    col_path, col_go = st.columns([5, 1], vertical_alignment="bottom")
    typed = col_path.text_input(
        "Cohort folder (the one holding cohort.toml)",
        value=default,
        placeholder="/data/studies/my-cohort",
        key="cohort_folder_path",
    )
    if col_go.button("Open", type="primary", key="cohort_folder_open", width="stretch"):
        if not typed.strip():
            st.warning("Type the path of a folder first.", icon=":material/edit:")
            return
        folder = Path(typed.strip()).expanduser()
        state.select_cohort(folder, f"Opened {folder.name or folder}.")

"""Cohort page: choose the data (demo, synthetic preset, server folder or upload), check it, and look at it."""

import streamlit as st

from crl.ui import cache, routing, state
from crl.ui.cohort_preview import draw_previews
from crl.ui.cohort_report import draw_problems, draw_verdict
from crl.ui.cohort_source import draw_source_picker
from crl.ui.cohort_upload import draw_fix_hint
from crl.ui.markdown import escape_markdown
from crl.ui.state import draw_notice
from crl.ui.user_errors import user_errors

routing.enter_through_app(__file__)

st.title("Cohort")
st.caption("Choose the data the model learns from, and check it before training.")
draw_notice()

with st.container(border=True), user_errors():
    draw_source_picker()

folder = state.cohort_dir()
with user_errors():
    report = cache.validation(folder)
    st.subheader(escape_markdown(report.name))
    st.caption(f"Folder: {escape_markdown(folder)}")
    draw_verdict(report)
    draw_problems(report)
    draw_fix_hint(folder, report)
    draw_previews(folder, report)

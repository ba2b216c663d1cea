"""The crl dashboard: routes the pages and draws the shared sidebar (current cohort)."""

import streamlit as st

from crl.ui import state

st.set_page_config(page_title="crl · causal latents", page_icon="🧬", layout="wide")

pages = [
    st.Page("pages/cohort.py", title="Cohort", icon=":material/table_view:", default=True),
]
navigation = st.navigation(pages)
state.draw_sidebar()
navigation.run()

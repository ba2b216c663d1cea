"""The crl dashboard: routes the pages and draws the shared sidebar (current cohort and run)."""

import streamlit as st

from crl.ui import compact, routing, state, url_state, warmup

st.set_page_config(page_title="crl · causal latents", page_icon="🧬", layout="wide")
compact.apply()

pages = {
    "Start": [st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True)],
    "Data": [
        st.Page("pages/cohort.py", title="Cohort", icon=":material/table_view:"),
        st.Page("pages/model.py", title="Model", icon=":material/tune:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    ],
    "Results": [
        st.Page("pages/graph.py", title="Latent graph", icon=":material/hub:"),
        st.Page("pages/traversal.py", title="Traversal", icon=":material/swap_horiz:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    ],
}
navigation = st.navigation(pages)
routing.follow_deep_link()
url_state.restore()  # a reload or a shared link: the cohort, run and settings in the URL
url_state.publish()
state.draw_sidebar()
try:
    navigation.run()
finally:  # once the first page is drawn: load what the other pages will ask for, in the background
    warmup.start(state.cohort_dir(), state.run_dir())

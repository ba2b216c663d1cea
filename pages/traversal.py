"""Traversal page (being built)."""

import streamlit as st

st.title("Traversal")
st.info("This page is being built.")

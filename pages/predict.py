"""Predict page (being built)."""

import streamlit as st

st.title("Predict")
st.info("This page is being built.")

"""Plotly figure builders: data in, go.Figure out. No TensorFlow, no Streamlit."""

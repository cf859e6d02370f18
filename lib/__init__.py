"""ConvStudio core: plain Python, importable and testable without Streamlit."""

"""Streamlit helpers shared by the pages: cached resources, the sidebar, session defaults.

Dependency direction: app.py and pages/ -> ui/ -> lib/. Nothing in lib/ imports this.
"""

"""Runs: the store (the single source of truth), the typed progress record, the scheduler, who may do what,
continuing and exporting. Used by the Streamlit server, the command line and the worker alike."""

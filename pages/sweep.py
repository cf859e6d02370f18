"""Sweeps: search settings as a group of ordinary runs; watch them, see what mattered, keep the best."""

import streamlit as st

from ui import frame, sweep_view

frame.ensure()  # a deep link right after a server restart must still get app.py's frame
st.title("Sweeps")
records = sweep_view.get_records()
sweep_view.start_driver()

if st.session_state.pop("cs_sweep_used", False):
    st.switch_page("pages/train.py")  # "Use these settings" copied the best trial's settings there

sweep_id = sweep_view.current_sweep_id(records)
with st.expander("Search these settings", expanded=sweep_id is None, icon=":material/travel_explore:"):
    sweep_view.new_sweep_form(records)

if sweep_id:
    if st.button("All sweeps", icon=":material/list:", key="sw_all"):
        sweep_view.watch(None)
        st.rerun()
    sweep_view.show(records, sweep_id)
else:
    sweep_view.sweep_list(records)

"""ConvStudio: train and test convolutional image classifiers in the browser.

    streamlit run app.py

This file is the frame around every page: navigation and the sidebar status.
Training never happens here; it runs in worker processes started by the
scheduler (see lib/runs/scheduler.py), and the pages poll the run store.
"""

import streamlit as st

from ui import frame, sweep_view

st.set_page_config(page_title="ConvStudio", page_icon=":material/neurology:", layout="wide")

pages = {
    "Build": [
        st.Page("pages/data.py", title="Data", icon=":material/dataset:", default=True),
        st.Page("pages/custom_data.py", title="Your images", icon=":material/upload_file:"),
        st.Page("pages/model.py", title="Model", icon=":material/account_tree:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/sweep.py", title="Sweeps", icon=":material/travel_explore:"),
    ],
    "Use": [
        st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
        st.Page("pages/predict.py", title="Predict", icon=":material/draw:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    ],
}
page = frame.draw(pages)  # scheduler, login door (nothing else until it opens), navigation, sidebar
sweep_view.start_driver()  # running sweeps carry on after a restart, as queued runs do
page.run()

"""Teach it (issue 16): find wrong labels, see the data as the model does, correct and retrain.

Plain Python over arrays and Keras models, like the rest of lib: no Streamlit.
"""

"""Sweeps: searches over training settings, run as ordinary runs on the shared queue."""

"""Datasets: the registry, the built-in offline loaders, splits, and your own images with their safe import."""

"""Loading model files: only files the store wrote, and never code hidden in them.

Keras's safe mode refuses Python code (a Lambda layer's bytecode), which ConvStudio never
writes; a link is not a file the store wrote, wherever it points.
"""

from __future__ import annotations

from pathlib import Path


class ModelRefused(ValueError):
    """A model file ConvStudio will not load: not one the store wrote, damaged, or carrying code."""


def load_model(path):
    """Load a model file the store wrote, or say clearly why not.

    Keras's safe mode refuses Python code (a Lambda layer's bytecode), which ConvStudio never
    writes; a link is not a file the store wrote, wherever it points.
    """
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise ModelRefused(f"{path} is a link or not a file: ConvStudio only loads model files it wrote itself")
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except MemoryError:
        raise
    except Exception as exc:
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise ModelRefused(
                f"{path} contains Python code (a Lambda layer), which ConvStudio never writes: refused, not run"
            ) from exc
        raise ModelRefused(f"{path} cannot be read ({type(exc).__name__}): it is damaged or not a Keras model") from exc

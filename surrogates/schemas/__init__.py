"""JSON schemas shipped with the surrogates (read with importlib.resources)."""

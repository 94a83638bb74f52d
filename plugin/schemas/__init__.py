"""JSON schemas of surrotag (analysis cards), read with importlib.resources."""

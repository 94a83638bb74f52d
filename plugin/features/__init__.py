"""surrotag.features."""

"""surrotag.reference."""

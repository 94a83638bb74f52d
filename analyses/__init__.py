"""surrotag.analyses: one subpackage per recastable search, found through entry points."""

from __future__ import annotations

__all__: list[str] = []

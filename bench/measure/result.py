"""Shared base of measurement results: every result serialises the same way."""

from __future__ import annotations

import dataclasses


class Result:
    """Mixin for frozen dataclasses; records store `to_dict()` verbatim."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

"""One row of `bench compare`: a quantity of a cell that differs (or a timing, always listed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

WARNING = "warning"  # a slowdown seen only through two machines' calibrations: shown, does not fail
NOT_COMPARED = "not compared"  # timings of two machines with nothing to normalise them by


@dataclass(frozen=True)
class Difference:
    cell: str
    quantity: str
    base: object
    new: object
    change: str
    regression: bool  # fails the gate
    flag: Literal["warning", "not compared"] | None = None  # what the verdict column says instead of "ok"

    @property
    def verdict(self) -> str:
        return "REGRESSION" if self.regression else self.flag or "ok"

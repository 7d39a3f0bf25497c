"""What every `bench speed` benchmark writes: its result as JSON beside its table as Markdown."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path


def machine_text(machine: dict) -> str:
    return f"Machine: {machine.get('model', '?')}, {machine.get('usable_cores', '?')} usable cores."


def write(result: dict, folder: Path, stem: str, table: Callable[[dict], str]) -> list[Path]:
    """FOLDER/STEM.json (every sample, the setup, the machine) and FOLDER/STEM.md (the table)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.json", folder / f"{stem}.md"]
    paths[0].write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    paths[1].write_text(table(result), encoding="utf-8")
    return paths

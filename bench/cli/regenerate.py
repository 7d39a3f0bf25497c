"""`bench table --all`: every table re-rendered from the results folder it belongs to.

A folder's tables are the tables whose results folder it is (`results=` on the table's
entry, else the table's name) and the tables its committed .md files are named after
(results/sst2-full-ft/summary.md is the summary of that folder's records). Folders that
cannot be rendered are reported with the reason, never silently passed over.
"""

from __future__ import annotations

from pathlib import Path


def plan(root: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(table name, results folder) pairs to render, and one line per thing skipped, with why."""
    from bench.registry import TABLES
    from bench.spec import results_folder

    homes = {name: results_folder(TABLES.get(name)) for name in TABLES.names()}
    jobs, skipped = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        committed = {p.stem for p in folder.glob("*.md")}
        names = sorted({n for n, home in homes.items() if home == folder.name} | (committed & set(homes)))
        if not (folder / "records").is_dir():
            run = f" (run its spec first: bench run --preset {folder.name})" if (folder / "spec.yaml").is_file() else ""
            skipped.append(f"results/{folder.name}: no records/ folder{run}")
        elif not names:
            skipped.append(f"results/{folder.name}: no table renders it (no table names it as its results folder "
                           "and no .md file there is named after a table)")
        else:
            jobs += [(name, folder) for name in names]
            others = sorted(f"{stem}.md" for stem in committed - set(homes) if stem != "README")
            if others:
                skipped.append(f"results/{folder.name}: {', '.join(others)} not named after a table; left as is")
    rendered = {name for name, _ in jobs}
    skipped += [f"table {name}: no results/{homes[name]} folder and no committed {name}.md "
                f"(render it from any records: bench table {name} --records DIR)"
                for name in sorted(homes) if name not in rendered]
    return jobs, skipped


def render_all(jobs, fmt: str = "md", save: Path | None = None, arch_only: bool = False):
    """Yield (name, folder, text or the paths written) for every (table, folder) of `plan`."""
    from bench.registry import TABLES
    from bench.storage.record import Record

    for name, folder in jobs:
        table = TABLES.get(name).obj(Record.load_all(folder / "records"), arch_only=arch_only)
        if save is None:
            yield name, folder, table.render(fmt)
        else:
            yield name, folder, table.save(Path(save) / folder.name, name, fmt)

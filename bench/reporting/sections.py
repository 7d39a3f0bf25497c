"""HTML of the report's text sections: the registered tables, the provenance, the diff against BASE.

Tables are HTML renderings of the same `bench.report.Table`s `bench table` prints (display
text, notes underneath). Every registered table is tried on the records; one is shown when it
renders rows that it does not render for no records at all (published rows alone say nothing
about these records). The tables of the records' own results folder come first; the others
that render rows follow, folded.
"""

from __future__ import annotations

from collections import Counter
from html import escape
from pathlib import Path

from bench.report import Table

SHORT_CELL = 24  # characters: a cell this short is kept on one line ('glue-cola' would break at its hyphen)


def _cell(text: str) -> str:
    return f"<td class=nw>{escape(text)}</td>" if len(text) <= SHORT_CELL else f"<td>{escape(text)}</td>"


def table_html(table: Table) -> str:
    columns = list(dict.fromkeys(key for row in table.rows for key in row))
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(str(row.get(c, "-"))) for c in columns) + "</tr>" for row in table.rows)
    notes = "".join(f"<li>{escape(note)}</li>" for note in table.notes)
    return (f"<h3>{escape(table.title)}</h3>\n<div class=scroll><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>\n<ul class=notes>{notes}</ul>\n")


def home_tables(records_dir: Path) -> set[str]:
    """The tables `bench table --all` renders from the results folder these records are in."""
    from bench.cli.regenerate import plan

    folder = Path(records_dir).resolve().parent
    jobs, _ = plan(folder.parent) if folder.parent.is_dir() else ([], [])
    return {name for name, home in jobs if home.resolve() == folder}


def tables_section(records, records_dir: Path) -> tuple[str, int]:
    """(the HTML of every table that renders rows for these records, how many tables it holds)."""
    from bench.registry import TABLES

    home, others, errors = [], [], []
    homes = home_tables(records_dir)
    for entry in TABLES.entries():
        try:
            table = entry.obj(records)
            nothing = entry.obj([]).rows
        except Exception as error:  # a table made for other records: the page says so and goes on
            errors.append(f"{entry.name}: {type(error).__name__}: {error}")
            continue
        if table.rows and table.rows != nothing:
            (home if entry.name in homes or entry.name == "summary" else others).append(table)
    home.sort(key=lambda t: t.title != "Summary")
    html = "".join(table_html(t) for t in home)
    if others:
        html += ("<details><summary>Other registered tables that render rows for these records "
                 f"({len(others)}: {escape(', '.join(t.title for t in others))})</summary>\n"
                 + "".join(table_html(t) for t in others) + "</details>\n")
    if errors:
        html += "<p>Tables that could not read these records:</p><ul>" + "".join(
            f"<li><code>{escape(e)}</code></li>" for e in errors) + "</ul>\n"
    return html, len(home) + len(others)


def _provenance_values(record) -> dict[str, str]:
    """One record's provenance as {field: text}, the fields a reader checks when numbers disagree."""
    prov = record.provenance
    cpu, gpu, git = prov.get("cpu") or {}, prov.get("gpu") or {}, prov.get("git") or {}
    flags = sorted(name for name, on in (cpu.get("flags") or {}).items() if on)
    values = {
        "device": str(record.device),
        "CPU": f"{cpu.get('model', '?')} ({cpu.get('usable_cores', '?')} usable cores)",
        "CPU flags": " ".join(flags) or "-",
        "GPU": f"{gpu.get('name')} ({gpu.get('total_memory_bytes', 0) / 2**30:.0f} GiB)" if gpu.get("name") else "none",
        "threads": ", ".join(f"{k}={v}" for k, v in sorted((prov.get("threads") or {}).items())) or "-",
        "python": str(prov.get("python", "-")),
        "git": f"{(git.get('sha') or '?')[:10]}{' (dirty)' if git.get('dirty') else ''}",
        "host": str(prov.get("hostname", "-")),
    }
    for package, version in sorted((prov.get("packages") or {}).items()):
        if version:
            values[package] = version
    return values


def provenance_section(records) -> str:
    """Each provenance field with its distinct values and how many records have each."""
    fields: dict[str, Counter] = {}
    for record in records:
        for name, value in _provenance_values(record).items():
            fields.setdefault(name, Counter())[value] += 1
    dates = sorted(r.date for r in records if r.date)
    rows = "".join(
        f"<tr><th>{escape(name)}</th><td>" + "<br>".join(
            f"{escape(value)} <span class=n>({n} record{'s' * (n != 1)})</span>" for value, n in counts.most_common())
        + "</td></tr>" for name, counts in fields.items())
    when = f"<p>Measured from {escape(dates[0])} to {escape(dates[-1])}.</p>\n" if dates else ""
    return f"{when}<table class=provenance><tbody>{rows}</tbody></table>\n"


def diff_section(base_dir: Path, records_dir: Path) -> str:
    """`bench compare BASE RECORDS` as it prints, its verdict on top."""
    from bench.compare import compare, render

    result = compare(base_dir, records_dir)
    text = render(result)
    verdict = text.splitlines()[-1]
    return (f"<p>BASE: <code>{escape(str(base_dir))}</code>; NEW: these records.</p>\n"
            f"<p class={'fail' if result.failed else 'ok'}>{escape(verdict)}</p>\n<pre>{escape(text)}</pre>\n")

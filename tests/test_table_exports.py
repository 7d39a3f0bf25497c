"""Tables for machines and for readers: csv and json carry numbers pandas reads (mean, std and n
in their own columns, counts as integers), Markdown keeps the text; `--save` writes what was
asked; `bench table --all` re-renders every results folder and says what it skipped."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from bench.cli import main
from tests.as_user import bench
from tests.test_compare_tables import summary_records, write_records

ROOT = Path(__file__).resolve().parents[1]


def test_csv_carries_mean_std_and_n_and_whole_counts(tmp_path, capsys):
    import pandas as pd

    records = write_records(tmp_path / "records", summary_records())
    assert main(["table", "summary", "--records", str(records), "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    three = frame[(frame["model"] == "tiny") & (frame["task"] == "glue-rte")].iloc[0]
    # 0.80, 0.82, 0.84 x100: the markdown's "82.0 ± 2.0" as three numbers.
    assert three["accuracy"] == pytest.approx(82.0) and three["accuracy_std"] == pytest.approx(2.0)
    assert three["accuracy_n"] == 3
    one = frame[frame["model"] == "other"].iloc[0]
    assert one["accuracy"] == pytest.approx(50.0) and pd.isna(one["accuracy_std"]) and one["accuracy_n"] == 1
    assert frame["params"].dtype.kind == "i" and set(frame["params"]) == {1000}  # "0.00M" on screen
    assert frame["p50 b1 (ms)"].dtype.kind == "f" and frame["train peak RSS (MiB)"].tolist() == [100] * 3


def test_json_rows_are_numbers_and_markdown_stays_text(tmp_path, capsys):
    records = write_records(tmp_path / "records", summary_records())
    assert main(["table", "summary", "--records", str(records), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    three = next(r for r in rows if r["model"] == "tiny" and r["task"] == "glue-rte")
    assert (three["accuracy"], three["accuracy_n"]) == (pytest.approx(82.0), 3)
    assert three["params"] == 1000 and three["trainable %"] == pytest.approx(100.0)
    assert main(["table", "summary", "--records", str(records)]) == 0
    markdown = capsys.readouterr().out
    assert "82.0 ± 2.0" in markdown and "0.00M" in markdown and "accuracy_std" not in markdown


def test_published_figures_and_percentages_become_numbers():
    from bench.registry import TABLES
    from bench.report import machine_rows
    from tests.test_peft_tables import records_for

    records = records_for({"tasks": ["glue-sst2"], "methods": ["full-ft", "bitfit", "lora"], "arch_only": True},
                          None, trainable=lambda c: 94 if c.chain[0].method == "bitfit" else 99_990, head=10)
    bitfit = machine_rows(TABLES.get("bitfit").obj(records, arch_only=True).rows)
    row = next(r for r in bitfit if r["Method"] == "BitFit")
    assert row["%Param"] == pytest.approx(0.094) and row["%Param pub."] == pytest.approx(0.09)  # "0.09%" printed
    lora = machine_rows(TABLES.get("lora").obj(records, arch_only=True).rows)
    assert next(r for r in lora if r["Method"] == "LoRA")["# Trainable"] == 99_990  # "0.10M" printed


def test_save_writes_the_asked_format_beside_md_and_csv(tmp_path, capsys):
    records = write_records(tmp_path / "records", summary_records())
    out = tmp_path / "out"
    assert main(["table", "summary", "--records", str(records), "--format", "json", "--save", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["summary.csv", "summary.json", "summary.md"]
    assert json.loads((out / "summary.json").read_text())["title"] == "Summary"
    assert (out / "summary.md").read_text().startswith("## Summary")


def test_typed_cells_leave_every_committed_tables_markdown_as_it_was():
    """Numbers in cells change csv and json only: every table of every committed results folder
    renders the same Markdown as the same rows turned into plain text would."""
    from bench.cli.regenerate import plan
    from bench.registry import TABLES
    from bench.report import Num, Stat, Table
    from bench.storage.record import Record

    jobs, _ = plan(ROOT / "results")
    assert len(jobs) >= 10
    typed = 0
    for name, folder in jobs:
        table = TABLES.get(name).obj(Record.load_all(folder / "records"))
        plain = [{k: str(v) if isinstance(v, str) else v for k, v in row.items()} for row in table.rows]
        assert table.render("md") == Table(table.title, plain, table.notes).render("md"), (name, folder)
        typed += sum(isinstance(v, (Num, Stat)) for row in table.rows for v in row.values())
    assert typed > 100


def test_table_all_saves_each_folder_and_says_what_it_skipped(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "peft", results / "peft", ignore=shutil.ignore_patterns("*.md", "*.csv"))
    write_records(results / "ran" / "records", summary_records())
    (results / "ran" / "summary.md").write_text("old\n")
    (results / "ran" / "notes.md").write_text("by hand\n")
    (results / "spec-only").mkdir()
    (results / "spec-only" / "spec.yaml").write_text("tasks: [glue-rte]\n")
    done = bench(["table", "--all", "--save", tmp_path / "out"], tmp_path, BENCH_RESULTS=str(results))
    assert done.returncode == 0, done.stderr
    saved = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.*"))
    assert saved == ["peft/bitfit.csv", "peft/bitfit.md", "peft/lora.csv", "peft/lora.md",
                     "ran/summary.csv", "ran/summary.md"]
    peft = (ROOT / "results" / "peft")
    assert (tmp_path / "out" / "peft" / "bitfit.md").read_text() == (peft / "bitfit.md").read_text()
    assert "skipped results/spec-only: no records/ folder (run its spec first: bench run --preset spec-only)" \
        in done.stderr
    assert "skipped results/ran: notes.md not named after a table; left as is" in done.stderr
    assert "skipped table mad-x: no results/mad-x folder" in done.stderr
    # Without --save the tables go to stdout, each under the folder it came from.
    done = bench(["table", "--all"], tmp_path, BENCH_RESULTS=str(results))
    assert done.returncode == 0 and done.stdout.count("## Summary") == 1 and "results/peft: bench table lora" in done.stdout

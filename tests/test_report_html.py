"""`bench report`: the page rendered from hand-made records holds the points it should, needs no
network, keeps each PNG under 200 KB, and bad paths exit 2 with one line."""

from __future__ import annotations

import base64
import re

import pytest

from bench.cli import main
from bench.reporting.page import write_report
from bench.spec import expand
from tests.test_compare_tables import PROVENANCE, write_records

pytest.importorskip("matplotlib")  # the `report` extra

# (accuracy per seed, p50 ms at batch 1, trainable parameters without the head, inference peak MiB).
# bitfit beats lora on every cost and on accuracy, so each front is {full-ft, bitfit}.
GLUE = {"full-ft": ((0.89, 0.91), 20.0, 1000, 900), "bitfit": ((0.85, 0.85), 10.0, 10, 800),
        "lora": ((0.80, 0.80), 15.0, 50, 850)}
HEAD = 5


def _samples(p50: float) -> list[float]:
    return [p50 * (0.9 + 0.01 * i) for i in range(20)]


def glue_records() -> list[dict]:
    records = []
    for cell in expand({"tasks": ["glue-sst2"], "methods": list(GLUE), "models": ["bert-base"], "seeds": [0, 1],
                        "device": "cpu"}):
        method = cell.chain[0].method
        accuracy, p50, trainable, mib = GLUE[method]
        records.append({
            "status": "success", "config": cell.to_dict(), "chain_label": cell.chain_label, "device": "cpu",
            "provenance": PROVENANCE, "identity": f"{method}-{cell.seed}", "key": f"{method}-{cell.seed}-key",
            "task_meta": {"metric": "accuracy", "higher_is_better": True, "kind": "classification"},
            "metrics": {"accuracy": accuracy[cell.seed]},
            "params": {"total": 2000, "trainable": trainable + HEAD, "trainable_head": HEAD, "base_total": 2000},
            "memory": {"inference_peak_rss_bytes": mib * 2**20, "train_peak_rss_bytes": 2**30},
            "latency": {shape: {"p50": p50 * factor, "n": 20, "samples_ms": _samples(p50 * factor)}
                        for shape, factor in (("b1_s128", 1), ("b32_s128", 8))},
            "training": [{"wall_s": 10.0, "s_per_step": 1.0}], "stages": {},
        })
    return records


def translation_record() -> dict:
    """A generation cell: decode speed and time-to-first-token samples, no fixed-shape latency."""
    cell = expand({"tasks": ["mt-wmt14-en-de"], "methods": ["full-ft"], "models": ["marian-2x128"], "device": "cpu"})[0]
    return {
        "status": "success", "config": cell.to_dict(), "chain_label": cell.chain_label, "device": "cpu",
        "provenance": PROVENANCE, "identity": "mt", "key": "mt-key",
        "task_meta": {"metric": "bleu", "higher_is_better": True, "kind": "generation"},
        "metrics": {"bleu": 17.5}, "params": {"total": 2_000_000, "trainable": 2_000_000, "base_total": 2_000_000},
        "memory": {"inference_peak_rss_bytes": 900 * 2**20},
        "generation": {"runs": {"1": {"decode_tokens_per_s_median": 800.0}},
                       "ttft": {"p50": 3.0, "samples_ms": _samples(3.0)}},
        "training": [{"wall_s": 10.0, "s_per_step": 1.0}], "stages": {},
    }


def failed_record() -> dict:
    cell = expand({"tasks": ["glue-rte"], "methods": ["full-ft"], "models": ["bert-base"], "device": "cpu"})[0]
    return {"status": "failed", "error": "boom", "config": cell.to_dict(), "chain_label": "full-ft", "device": "cpu",
            "provenance": PROVENANCE, "identity": "broken", "key": "broken-key"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    records = write_records(root / "records", [*glue_records(), translation_record(), failed_record()])
    slower = glue_records()
    for record in slower:  # BASE was faster: the diff section names the regression
        stats = record["latency"]["b1_s128"]
        stats["p50"] /= 2
        stats["samples_ms"] = [s / 2 for s in stats["samples_ms"]]  # compare reads the samples
    base = write_records(root / "base", slower)
    out = root / "report.html"
    return write_report(records, out, base, root / "plots"), out, root / "plots"


def _panels(figure) -> dict[str, dict[str, int]]:
    """{x-axis label: {series label: points drawn}} of a Pareto figure's panels (the key panel has no x label)."""
    return {ax.get_xlabel().split("\n")[0]: {c.get_label(): len(c.get_offsets()) for c in ax.collections}
            for ax in figure.axes if ax.get_xlabel()}


def test_pareto_plots_hold_our_points_the_published_ones_and_the_front(report):
    report, _, _ = report
    glue = _panels(report.figures["pareto-glue-sst2.png"])
    assert set(glue) == {"p50 latency, batch 1 (ms)", "trainable parameters (without the task head)",
                         "inference peak RSS (MiB)"}
    for name, series in glue.items():
        # LoRA's table publishes five RoBERTa-base rows with an SST-2 score and a trainable count.
        published = 5 if name.startswith("trainable") else 0
        assert series == {"ours": 3, "Pareto front (ours)": 2, **({"published": 5} if published else {})}, name
    mt = _panels(report.figures["pareto-mt-wmt14-en-de.png"])
    assert set(mt) == {"decode tokens/s, batch 1", "trainable parameters (without the task head)",
                       "inference peak RSS (MiB)"}
    assert mt["trainable parameters (without the task head)"]["published"] == 10  # Kim and Rush's ten rows
    assert all(series["ours"] == 1 == series["Pareto front (ours)"] for series in mt.values())


def test_plotted_values_are_means_over_seeds_on_the_tables_scale(report):
    report, _, _ = report
    ax = next(a for a in report.figures["pareto-glue-sst2.png"].axes if a.get_xlabel().startswith("p50"))
    ours = next(c for c in ax.collections if c.get_label() == "ours")
    assert sorted(map(tuple, ours.get_offsets().tolist())) == pytest.approx([(10.0, 85.0), (15.0, 80.0), (20.0, 90.0)])


def test_latency_plots_hold_a_box_per_method_and_timed_shape(report):
    report, _, _ = report
    glue = report.figures["latency-glue-sst2.png"]
    assert [ax.get_title() for ax in glue.axes] == ["batch 1, sequence 128", "batch 32, sequence 128"]
    assert [len(ax.patches) for ax in glue.axes] == [3, 3]
    mt = report.figures["latency-mt-wmt14-en-de.png"]
    assert [(ax.get_title(), len(ax.patches)) for ax in mt.axes] == [("time to first token, batch 1", 1)]


def test_page_is_self_contained_with_small_pngs(report):
    report, out, plots = report
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    images = re.findall(r'<img [^>]*src="([^"]*)"', html)
    assert len(images) == len(report.plots) == 4
    for src in images:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1])
        assert data.startswith(b"\x89PNG") and len(data) < 200_000
    assert sorted(p.name for p in plots.iterdir()) == sorted(report.plots)


def test_page_has_the_tables_the_provenance_and_the_diff(report):
    _, out, _ = report
    html = out.read_text(encoding="utf-8")
    for title in ("<h3>Summary</h3>", "<h3>LoRA and PEFT methods</h3>", "<h3>BitFit</h3>"):
        assert title in html
    assert "1 cell(s) did not succeed" in html  # the summary's note on the failed record
    assert "Test CPU 9000" in html and "<h2 id=provenance>" in html
    diff = html[html.index("<h2 id=diff>"):]
    assert "REGRESSION" in diff and "latency.b1_s128.p50" in diff and "class=fail" in diff


def test_cli_writes_the_page(tmp_path, capsys):
    records = write_records(tmp_path / "records", glue_records())
    assert main(["report", str(records), "-o", str(tmp_path / "r.html")]) == 0
    assert "2 plot(s)" in capsys.readouterr().out and (tmp_path / "r.html").is_file()


@pytest.mark.parametrize("case, message", [
    ("missing", "no such folder"),
    ("empty", "holds no records"),
    ("no-output-folder", "does not exist"),
])
def test_bad_paths_exit_2_with_one_line(tmp_path, capsys, case, message):
    (tmp_path / "empty").mkdir()
    records = write_records(tmp_path / "records", [failed_record()])
    folder = {"missing": tmp_path / "nothing", "empty": tmp_path / "empty"}.get(case, records)
    out = tmp_path / ("nowhere/r.html" if case == "no-output-folder" else "r.html")
    assert main(["report", str(folder), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not out.exists()


def test_report_all_writes_each_results_folder_its_plots(tmp_path, capsys, monkeypatch):
    results = tmp_path / "results"
    write_records(results / "glue" / "records", glue_records())
    (results / "empty" / "records").mkdir(parents=True)  # a spec not run yet: no plots, no folder
    (results / "glue" / "plots").mkdir()
    (results / "glue" / "plots" / "stale.png").write_bytes(b"old")  # a plot of an earlier run goes
    monkeypatch.setenv("BENCH_RESULTS", str(results))
    assert main(["report", "--all"]) == 0
    assert capsys.readouterr().out == "results/glue/plots: 2 plot(s)\n"
    pngs = sorted(p.name for p in (results / "glue" / "plots").iterdir())
    assert len(pngs) == 2 and "stale.png" not in pngs and all(name.endswith(".png") for name in pngs)
    assert not (results / "empty" / "plots").exists()
    assert main(["report"]) == 2 and "RECORDS_DIR, or --all" in capsys.readouterr().err

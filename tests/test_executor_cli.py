"""The `bench` command and the local executor: validation, records, resume, failures, timeouts."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main

# --batch-sizes 1: no batch-32 latency; the tiny cells then cost little besides their imports.
FAST = ["--quiet", "--latency", "quick", "--batch-sizes", "1", "--max-steps", "2", "--batch-size", "4"]
ROOT = Path(__file__).resolve().parents[1]


def run_cli(argv) -> tuple[int, str, str]:
    """main(argv) with stdout and stderr captured (usable in module-scoped fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def records_in(directory: Path) -> dict[Path, dict]:
    return {p: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def make_broken_model(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text('{"model_type": "bert", "hidden_size": ')  # cut short
    return directory


# --- validation before anything runs (exit 2) ------------------------------


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--task", "glue-rte,glue-sst"], "Did you mean 'glue-sst2'?"),
        (["--method", "full-fit"], "Did you mean 'full-ft'?"),
        (["--method", "full-ft(lrr=1e-4)"], "Did you mean 'lr'?"),
        (["--model", "tinybert5"], "Did you mean 'tinybert4'?"),
    ],
)
def test_unknown_names_exit_2_before_anything_runs(tmp_path, capsys, tiny_model_dir, tiny_glue_dir, flags, expected):
    args = {"--task": "glue-rte", "--method": "full-ft", "--model": str(tiny_model_dir)}
    args.update(dict(zip(flags[::2], flags[1::2], strict=False)))
    records = tmp_path / "records"
    argv = ["run", *[x for kv in args.items() for x in kv], "--records", str(records),
            "--data-dir", str(tiny_glue_dir), *FAST]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and captured.err.startswith("bench: error:")
    assert not records.exists()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("tasks: [glue-rte\nmodels: [x]\n", "malformed spec"),
        ("- glue-rte\n- full-ft\n", "malformed spec"),
        ("tasks: [glue-rte]\nmethods: [full-ft]\nmodles: [bert-base]\n", "Did you mean 'models'?"),
        ("tasks: [glue-rte]\nmethods: [full-ft]\nmodels: [bert-base]\nbudget: {epoch: 1}\n", "Did you mean 'epochs'?"),
    ],
)
def test_malformed_spec_file_exits_2(tmp_path, capsys, text, expected):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    records = tmp_path / "records"
    assert main(["run", "--spec", str(spec), "--records", str(records), "--quiet"]) == 2
    assert expected in capsys.readouterr().err
    assert not records.exists()


def test_missing_spec_file_and_unknown_preset_exit_2(tmp_path, capsys):
    assert main(["run", "--spec", str(tmp_path / "nope.yaml"), "--records", str(tmp_path / "r")]) == 2
    assert "spec file not found" in capsys.readouterr().err
    assert main(["run", "--preset", "tinybert-arc", "--records", str(tmp_path / "r")]) == 2
    assert "Did you mean 'tinybert-arch'?" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_dry_run_lists_cells_and_runs_nothing(tmp_path, capsys, tiny_model_dir):
    records = tmp_path / "records"
    code = main(["run", "--task", "glue-rte,glue-sst2", "--method", "full-ft(lr=3e-4,warmup_ratio=0.1);full-ft",
                 "--model", str(tiny_model_dir), "--seed", "0,1", "--records", str(records), "--dry-run"])
    assert code == 0
    out = capsys.readouterr().out
    assert "8 cell(s): 0 already recorded, 8 to run" in out
    # Every option of every stage, defaults included: what each cell really runs.
    assert out.count("full-ft(lr=0.0003,max_grad_norm=1.0,warmup_ratio=0.1,weight_decay=0.01)") == 4
    assert out.count("full-ft(lr=0.0001,max_grad_norm=1.0,warmup_ratio=0.06,weight_decay=0.01)") == 4
    assert not records.exists()


# --- a real matrix: records, provenance, resume ------------------------------


@pytest.fixture(scope="module")
def rte_run(tmp_path_factory, tiny_model_dir, tiny_glue_dir):
    """Two cells (seeds 0 and 1) of full-ft on RTE, run once for the tests below."""
    records = tmp_path_factory.mktemp("rte") / "records"
    argv = ["run", "--task", "glue-rte", "--method", "full-ft", "--model", str(tiny_model_dir),
            "--seed", "0,1", "--records", str(records), "--data-dir", str(tiny_glue_dir), *FAST]
    code, out, err = run_cli(argv)
    return argv, records, code, out, err


def test_matrix_run_writes_one_record_per_cell(rte_run):
    _, records, code, out, err = rte_run
    assert code == 0, err
    found = records_in(records)
    assert len(found) == 2
    assert sorted(r["seed"] for r in found.values()) == [0, 1]
    for path, record in found.items():
        assert record["status"] == "success", record.get("error")
        assert path.name.startswith("glue-rte__") and record["key"][:12] in path.name
        assert record["metrics"].keys() == {"accuracy"}
        assert record["training"][0]["steps"] == 2
    assert "2 cell(s): 2 succeeded (0 from records), 0 failed" in out


def test_records_carry_every_provenance_field(rte_run):
    _, records, *_ = rte_run
    for record in records_in(records).values():
        for field in ("schema_version", "key", "identity", "config", "status", "error", "seed",
                      "budget", "device", "durations", "versions"):
            assert field in record, field
        assert record["error"] is None and record["schema_version"] >= 1
        assert record["config"]["seed"] == record["seed"] and record["budget"] == record["config"]["budget"]
        assert record["budget"]["max_steps"] == 2 and record["budget"]["batch_size"] == 4
        prov = record["provenance"]
        assert set(prov["git"]) >= {"sha", "dirty"}
        assert prov["date"][:4].isdigit() and "T" in prov["date"]
        assert prov["packages"]["torch"] and prov["packages"]["transformers"]
        assert prov["python"].count(".") == 2
        assert prov["cpu"]["logical_cores"] >= 1 and "model" in prov["cpu"]
        assert prov["threads"]["torch_num_threads"] >= 1
        assert "gpu" in prov
        assert record["durations"]["total_s"] > 0


def test_record_key_is_the_cell_key(rte_run):
    from bench.cell import Cell, result_versions

    _, records, *_ = rte_run
    for record in records_in(records).values():
        cell = Cell.from_dict(record["config"])
        assert record["key"] == cell.key(result_versions())
        assert record["versions"] == result_versions()
        assert record["identity"] == cell.identity()


def test_rerun_resumes_without_recomputing(rte_run):
    argv, records, *_ = rte_run
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in records.glob("*.json")}
    code, out, err = run_cli(argv)
    assert code == 0, err
    assert "2 succeeded (2 from records)" in out
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in records.glob("*.json")}
    assert after == before


def test_no_temporary_files_remain(rte_run):
    _, records, *_ = rte_run
    assert [p.name for p in records.iterdir() if p.name.startswith(".tmp-")] == []


def test_records_frame_has_one_row_per_record(rte_run):
    from bench.storage.store import records_frame

    _, records, *_ = rte_run
    frame = records_frame(records)
    assert len(frame) == 2 and set(frame["status"]) == {"success"}
    assert {"metrics.accuracy", "params.total", "latency.b1_s128.p50", "training.wall_s"} <= set(frame.columns)


# --- failures and timeouts ---------------------------------------------------


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory, tiny_model_dir, tiny_glue_dir, rte_run):
    """A broken model first, then the good one: the matrix goes on past the failure.

    The good cell is seed 0 of `rte_run`, whose records are copied in, so only the broken
    cell starts a process (each costs seconds of imports).
    """
    root = tmp_path_factory.mktemp("failing")
    bad = make_broken_model(root / "broken-model")
    records = root / "records"
    shutil.copytree(rte_run[1], records)
    argv = ["run", "--task", "glue-rte", "--method", "full-ft", "--model", f"{bad},{tiny_model_dir}",
            "--seed", "0", "--records", str(records), "--data-dir", str(tiny_glue_dir), *FAST]
    code, out, err = run_cli(argv)
    return bad, records, code, out, err


def test_failing_cell_is_recorded_and_the_others_go_on(failing_run, tiny_model_dir):
    bad, records, code, out, err = failing_run
    assert code == 1
    mine = [r for r in records_in(records).values() if r["seed"] == 0]
    by_model = {r["config"]["model"]: r for r in mine}
    assert set(by_model) == {str(bad), str(tiny_model_dir)}
    failed, good = by_model[str(bad)], by_model[str(tiny_model_dir)]
    assert failed["status"] == "failed"
    assert "cannot load model" in failed["error"] and str(bad) in failed["error"]
    assert "Traceback" in failed["traceback"]
    assert good["status"] == "success" and good["metrics"]["accuracy"] >= 0
    assert "2 cell(s): 1 succeeded (1 from records), 1 failed" in out
    assert "broken-model" in err and "failed" in err  # the progress line names the failed cell


def test_failed_record_carries_the_envelope(failing_run):
    bad, records, *_ = failing_run
    failed = next(r for r in records_in(records).values() if r["status"] == "failed")
    for field in ("schema_version", "key", "identity", "config", "error", "seed", "budget", "device", "provenance"):
        assert field in failed, field
    assert failed["provenance"]["packages"]["torch"]
    assert failed["wall_s"] > 0


def test_failed_record_has_durations(failing_run):
    bad, records, *_ = failing_run
    failed = next(r for r in records_in(records).values() if r["status"] == "failed")
    assert "durations" in failed


def test_timeout_is_recorded(tmp_path, tiny_model_dir, tiny_glue_dir):
    records = tmp_path / "records"
    code, out, err = run_cli(["run", "--task", "glue-rte", "--method", "full-ft", "--model", str(tiny_model_dir),
                              "--records", str(records), "--data-dir", str(tiny_glue_dir), "--timeout", "0.5", *FAST])
    assert code == 1
    (record,) = records_in(records).values()
    assert record["status"] == "timeout"
    assert "--timeout 0.5" in record["error"]
    assert record["config"]["task"] == "glue-rte" and record["provenance"]["python"]
    assert [p.name for p in records.iterdir() if p.name.startswith(".tmp-")] == []


def test_unfinished_cells_are_run_again(tmp_path, fast_spec):
    from bench.executors.local import run_matrix
    from bench.spec import expand

    cells = expand(fast_spec())
    first = run_matrix(cells, tmp_path, timeout=0.2, progress=False)
    second = run_matrix(cells, tmp_path, timeout=0.2, progress=False)
    assert [(o.status, o.cached) for o in first + second] == [("timeout", False)] * 2
    assert first[0].path == second[0].path and len(list(tmp_path.glob("*.json"))) == 1


# --- list ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tasks", "methods", "models", "tables"])
def test_list_prints_one_line_per_entry(capsys, kind):
    from bench import registry

    names = getattr(registry, kind.upper()).names()
    assert main(["list", kind]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(names) > 0
    assert [line.split()[0] for line in lines] == names


def test_list_and_validation_do_not_import_heavy_libraries(tmp_path):
    # DESIGN principle 4: `bench list` and spec validation are instant.
    code = (
        "import sys; from bench.cli import main\n"
        "assert main(['list', 'methods']) == 0 and main(['list', 'models']) == 0\n"
        "assert main(['run', '--task', 'glue-rte', '--method', 'full-ft', '--model', 'bert-base', "
        "'--device', 'cpu', '--dry-run', '--records', sys.argv[1]]) == 0\n"
        "heavy = {'torch', 'transformers', 'pandas', 'datasets'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r")], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr


# --- atomic records --------------------------------------------------------------


def test_write_record_keeps_the_old_file_when_serialisation_fails(tmp_path):
    from bench.storage.store import read_record, write_record

    class Unserialisable:
        def to_dict(self):
            raise RuntimeError("cannot serialise")

    path = tmp_path / "records" / "cell.json"
    write_record(path, {"status": "success", "value": 1})
    old = path.read_bytes()
    with pytest.raises(RuntimeError, match="cannot serialise"):
        write_record(path, {"status": "success", "value": Unserialisable()})
    assert path.read_bytes() == old and read_record(path)["value"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["cell.json"]


def test_write_record_serialises_tuples_and_numpy_scalars(tmp_path):
    import numpy as np

    from bench.storage.store import read_record, write_record

    path = tmp_path / "cell.json"
    write_record(path, {"shape": (1, 2), "p50": np.float32(1.5), "n": np.int64(3)})
    assert read_record(path) == {"shape": [1, 2], "p50": 1.5, "n": 3}

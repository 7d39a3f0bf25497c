"""Bad input exits 2 with one line naming the problem; nothing runs and nothing is written.

Each case is a command a user could type. The executor is replaced by one that fails the
test if called, so "nothing ran" is checked, not assumed.
"""

from __future__ import annotations

import os
import shutil

import pytest

from bench.cli import main

VALID = {"--task": "glue-sst2", "--method": "full-ft", "--model": "{model}"}


@pytest.fixture
def nothing_runs(monkeypatch):
    import bench.executors.local

    def refuse(*args, **kwargs):
        raise AssertionError("a cell was started although the input was bad")

    monkeypatch.setattr(bench.executors.local, "run_matrix", refuse)


def bad_run(argv, tmp_path, capsys) -> str:
    """Run `bench run ARGV --records tmp/records`; assert exit 2, one line, no records; the line."""
    records = tmp_path / "records"
    argv = ["run", *argv]
    if "--records" not in argv:
        argv += ["--records", str(records)]
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own refusals (a flag's type) exit from parse_args
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("bench")
    assert not records.exists() or not any(records.iterdir())
    return lines[0]


def flags(model, data, **changes) -> list[str]:
    args = {k: v.format(model=model) for k, v in VALID.items()}
    args.update(changes)
    out = [x for kv in args.items() for x in kv if kv[1] is not None]
    return out + ["--data-dir", str(data), "--quiet"]


@pytest.mark.parametrize("changes, expected", [
    ({"--seed": "x"}, "--seed: 'x' is not an integer"),
    ({"--method": "lora(r=0)"}, "option 'r' must be at least 1, got 0"),
    ({"--method": "lora(r=-1)"}, "option 'r' must be at least 1, got -1"),
    ({"--epochs": "nan"}, "'epochs' must be a finite number"),
    ({"--epochs": "inf"}, "'epochs' must be a finite number"),
    ({"--timeout": "-1"}, "--timeout: must be a positive number of seconds"),
    ({"--method": "full-ft -> int8-dynamic -> prune-heads"}, "put prune-heads before int8-dynamic"),
    ({"--method": "full-ft -> bf16 -> full-ft"}, "put full-ft before bf16"),
    ({"--method": "lora(alpha=0)"}, "'alpha' must be greater than 0"),
    ({"--method": "full-ft(lr=-1e-4)"}, "'lr' must be greater than 0"),
    ({"--method": "prune-magnitude(sparsity=nan)"}, "must be a finite number"),
    ({"--batch-sizes": "1,x"}, "--batch-sizes"),
])
def test_bad_flags_exit_2_before_anything_runs(changes, expected, tmp_path, capsys, nothing_runs,
                                               tiny_model_dir, tiny_glue_dir):
    line = bad_run(flags(tiny_model_dir, tiny_glue_dir, **changes), tmp_path, capsys)
    assert expected in line


def test_run_with_no_task_method_or_model_names_what_is_missing(tmp_path, capsys, nothing_runs):
    assert "no task given (--task NAME" in bad_run([], tmp_path, capsys)
    assert "no method given" in bad_run(["--task", "glue-sst2", "--model", "bert-base"], tmp_path, capsys)


def test_device_cuda_without_cuda_is_refused(tmp_path, capsys, nothing_runs, tiny_model_dir, tiny_glue_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: --device cuda is valid here")
    line = bad_run(flags(tiny_model_dir, tiny_glue_dir, **{"--device": "cuda"}), tmp_path, capsys)
    assert "no CUDA device" in line and "--device cpu" in line


def test_records_naming_a_file_is_refused(tmp_path, capsys, nothing_runs, tiny_model_dir, tiny_glue_dir):
    target = tmp_path / "records.json"
    target.write_text("{}")
    line = bad_run(flags(tiny_model_dir, tiny_glue_dir, **{"--records": str(target)}), tmp_path, capsys)
    assert "is a file, not a folder" in line and target.read_text() == "{}"


def test_records_folder_that_cannot_be_written_is_refused_before_running(tmp_path, capsys, nothing_runs,
                                                                           tiny_model_dir, tiny_glue_dir):
    # /proc/self is a folder no one can create files in, root included (chmod does not stop root).
    line = bad_run(flags(tiny_model_dir, tiny_glue_dir, **{"--records": "/proc/self"}), tmp_path, capsys)
    assert "cannot write records into '/proc/self'" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; /proc covers the refusal")
def test_read_only_records_folder_is_refused(tmp_path, capsys, nothing_runs, tiny_model_dir, tiny_glue_dir):
    records = tmp_path / "ro"
    records.mkdir()
    records.chmod(0o555)
    try:
        line = bad_run(flags(tiny_model_dir, tiny_glue_dir, **{"--records": str(records)}), tmp_path, capsys)
    finally:
        records.chmod(0o755)
    assert "cannot write records" in line


def test_missing_data_folder_and_task_folder(tmp_path, capsys, nothing_runs, tiny_model_dir, monkeypatch):
    line = bad_run(flags(tiny_model_dir, tmp_path / "nowhere"), tmp_path, capsys)
    assert "--data-dir" in line and "is not a folder" in line
    (tmp_path / "empty-data").mkdir()
    line = bad_run(flags(tiny_model_dir, tmp_path / "empty-data"), tmp_path, capsys)
    assert "split file" in line and "SST-2" in line
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "gone"))
    argv = [x for kv in VALID.items() for x in kv]
    line = bad_run([a.format(model=tiny_model_dir) for a in argv] + ["--quiet"], tmp_path, capsys)
    assert "BENCH_DATA_DIR" in line and "is not a folder" in line


@pytest.mark.parametrize("corruption, expected", [
    ("extra field", "Expected 2 fields"),
    ("truncated", "bad label"),
])
def test_corrupt_data_rows_are_found_before_training(corruption, expected, tmp_path, capsys, nothing_runs,
                                                     tiny_model_dir, tiny_glue_dir):
    data = tmp_path / "data"
    shutil.copytree(tiny_glue_dir, data)
    dev = data / "glue" / "SST-2" / "dev.tsv"  # the split read only after training
    rows = dev.read_text().splitlines()
    rows[3] = rows[3] + "\textra" if corruption == "extra field" else rows[3].split("\t")[0]
    dev.write_text("\n".join(rows) + "\n")
    line = bad_run(flags(tiny_model_dir, data), tmp_path, capsys)
    assert expected in line and "dev.tsv" in line


def test_empty_model_directory_is_refused(tmp_path, capsys, nothing_runs, tiny_glue_dir):
    empty = tmp_path / "empty-model"
    empty.mkdir()
    line = bad_run(flags(empty, tiny_glue_dir), tmp_path, capsys)
    assert "has no config.json" in line


def test_yaml_alias_bomb_is_refused_at_once_with_a_short_message(tmp_path, capsys, nothing_runs):
    import time

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 50)]
    spec = tmp_path / "bomb.yaml"
    spec.write_text("\n".join(lines) + "\ntasks: *a49\nmethods: [full-ft]\nmodels: [bert-base]\n")
    started = time.perf_counter()
    line = bad_run(["--spec", spec], tmp_path, capsys)
    assert time.perf_counter() - started < 5
    assert "expands to more than" in line and len(line) < 400


def test_untrusted_values_are_abridged_in_messages(tmp_path, capsys, nothing_runs):
    spec = tmp_path / "long.yaml"
    spec.write_text("tasks: [glue-sst2]\nmethods: [full-ft]\nmodels: [bert-base]\nseeds: [" + "9" * 100_000 + "x]\n")
    line = bad_run(["--spec", spec], tmp_path, capsys)
    assert "characters" in line and len(line) < 600


def test_a_good_spec_of_ordinary_size_still_loads(tmp_path):
    from bench.spec_file import load_spec_file

    spec = tmp_path / "ok.yaml"
    spec.write_text("defaults: &d {lr: 1.0e-4}\ntasks: [glue-sst2]\nmethods: [{name: full-ft, <<: *d}]\n"
                    "models: [bert-base]\n")
    assert load_spec_file(spec)["methods"] == [{"name": "full-ft", "lr": 1.0e-4}]


@pytest.mark.parametrize("method, expected", [
    ("seq-kd(teacher=marian-4x256,beam=0)", "'beam' must be at least 1"),
    ("word-kd(teacher=marian-4x256,topk=0)", "'topk' must be at least 1"),
    ("seq-kd(teacher=marain-4x256)", "Did you mean 'marian-4x256'?"),
    ("seq-inter(teacher=marian-4x256,beam=2,n_best=3)", "n_best"),
])
def test_bad_sequence_kd_options_exit_2(method, expected, tmp_path, capsys, nothing_runs, tiny_glue_dir):
    argv = ["--task", "mt-multi30k-en-de", "--model", "marian-2x128", "--method", method,
            "--data-dir", str(tiny_glue_dir), "--quiet"]
    assert expected in bad_run(argv, tmp_path, capsys)

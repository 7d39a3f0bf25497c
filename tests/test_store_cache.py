"""Cache entries carry a manifest of their files: a corrupt entry is deleted and rebuilt, and the
cell that meets it succeeds instead of failing on every run."""

from __future__ import annotations

import json

import pytest

from bench.storage.cache import MANIFEST, WEIGHTS, cache_root, open_entry, store_entry


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_two_files(folder):
    (folder / "a.bin").write_bytes(b"\x00" * 1000)
    (folder / "b.json").write_text('{"steps": 2}')


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete file", "no manifest", "garbage manifest"])
def test_a_damaged_entry_is_deleted_with_a_warning(fresh_cache, capsys, damage):
    entry = fresh_cache / "train-abc"
    store_entry(entry, write_two_files)
    assert open_entry(entry) == entry
    assert set(json.loads((entry / MANIFEST).read_text())) == {"a.bin", "b.json"}
    if damage == "truncate":
        (entry / "a.bin").write_bytes(b"\x00" * 500)
    elif damage == "garbage":
        (entry / "b.json").write_text('{"steps": 3}')  # same size, other bytes
    elif damage == "delete file":
        (entry / "a.bin").unlink()
    elif damage == "no manifest":
        (entry / MANIFEST).unlink()
    else:
        (entry / MANIFEST).write_text("{not json")
    assert open_entry(entry) is None
    assert not entry.exists()
    assert "cache entry" in capsys.readouterr().err


def test_an_entry_stored_first_by_another_process_is_kept(fresh_cache):
    entry = fresh_cache / "train-abc"
    store_entry(entry, write_two_files)
    store_entry(entry, lambda folder: (folder / "a.bin").write_bytes(b"other"))
    assert (entry / "a.bin").read_bytes() == b"\x00" * 1000 and open_entry(entry) == entry
    assert [p.name for p in fresh_cache.iterdir()] == ["train-abc"]  # no staging folder left


def run(fast_spec, tiny_glue_dir, method):
    from bench.runner import run_cell
    from bench.spec import expand

    (cell,) = expand(fast_spec(methods=[method]))
    record = run_cell(cell, data_dir=str(tiny_glue_dir))
    assert record["status"] == "success", record.get("error")
    return record


def test_corrupt_trained_weights_are_retrained_and_the_cell_succeeds(fast_spec, tiny_glue_dir, fresh_cache):
    first = run(fast_spec, tiny_glue_dir, "full-ft")
    (entry,) = [p for p in cache_root().iterdir() if p.name.startswith("train-")]
    weights = entry / WEIGHTS
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a copy cut short
    again = run(fast_spec, tiny_glue_dir, "full-ft")
    assert not again["training"][0]["from_cache"]
    assert again["metrics"] == first["metrics"]  # the same training, done again
    assert open_entry(entry) == entry  # rebuilt, intact
    assert run(fast_spec, tiny_glue_dir, "full-ft")["training"][0]["from_cache"]


def test_corrupt_teacher_outputs_are_recomputed_and_the_cell_succeeds(fast_spec, tiny_glue_dir, fresh_cache):
    first = run(fast_spec, tiny_glue_dir, "kd-soft(student=lstm)")["stages"]["distillation"]
    (targets,) = cache_root().glob("targets-*")
    logits = targets / "logits" / "outputs.safetensors"
    logits.write_bytes(b"garbage")
    # Another student of the same teacher reads the cached logits.
    second = run(fast_spec, tiny_glue_dir, "kd-soft(student=truncate:1)")["stages"]["distillation"]
    assert not second["teachers"][0]["trained_in_this_cell"]  # the teacher's weights were intact
    assert second["teacher_forward_passes"] == first["teacher_forward_passes"] > 0  # its outputs computed again
    assert second["targets_cache_bytes"] == first["targets_cache_bytes"]
    assert open_entry(targets / "logits") is not None

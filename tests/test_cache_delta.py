"""A PEFT prefix caches only what it trained (a delta over its base); full fine-tuning the whole model."""

from __future__ import annotations

import json

import pytest

from bench.cell import result_versions
from bench.spec import expand
from bench.storage.cache import MANIFEST, STATS, WEIGHTS, prefix_key


def only_cell(spec: dict):
    (cell,) = expand(spec)
    return cell


def entry_of(cell, cache):
    return cache / prefix_key(cell, 0, result_versions())


def entry_bytes(entry) -> int:
    return sum(p.stat().st_size for p in entry.iterdir() if p.is_file())


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_peft_prefixes_store_a_delta_and_load_it_to_the_same_metrics(fast_spec, tiny_glue_dir, cache):
    from safetensors.torch import load_file

    from bench.runner import run_cell

    full = only_cell(fast_spec(tasks=["glue-rte"], methods=["full-ft"], seeds=[3]))
    run_cell(full, data_dir=str(tiny_glue_dir))
    full_entry = entry_of(full, cache)
    full_stats = json.loads((full_entry / STATS).read_text())
    assert full_stats["stored"] == {"weights": "full"}
    sizes = {"full-ft": entry_bytes(full_entry)}
    for method in ("lora", "bitfit"):
        cell = only_cell(fast_spec(tasks=["glue-rte"], methods=[method], seeds=[3]))
        first = run_cell(cell, data_dir=str(tiny_glue_dir))
        entry = entry_of(cell, cache)
        sizes[method] = entry_bytes(entry)
        stats = json.loads((entry / STATS).read_text())
        stored = stats["stored"]
        assert stored["weights"] == "delta" and stored["buffers"] == []
        assert stored["of"] == {"model": cell.model, "inputs": [list(p) for p in cell.inputs],
                                "stages_before": [], "stage": cell.chain[0].full_label()}
        names = set(load_file(str(entry / WEIGHTS)))
        assert names and all(("lora_" in n or "modules_to_save" in n) if method == "lora"
                             else (n.endswith(".bias") or "classifier" in n) for n in names), sorted(names)
        assert stored["trainable_parameters"] == first["training"][0]["trainable_parameters"]
        assert sizes[method] * 5 < sizes["full-ft"], sizes

        again = run_cell(cell, data_dir=str(tiny_glue_dir))
        assert [t["from_cache"] for t in first["training"]] == [False]
        assert [t["from_cache"] for t in again["training"]] == [True]
        assert again["metrics"] == first["metrics"]
        assert "stored" not in again["training"][0]  # the record keeps the stats only
        assert {k: v for k, v in again["training"][0].items() if k != "from_cache"} == \
            {k: v for k, v in first["training"][0].items() if k != "from_cache"}
    print(f"\ncache entry sizes (bytes): {sizes}")


def test_a_delta_whose_names_do_not_match_is_rebuilt(fast_spec, tiny_glue_dir, cache, capsys):
    from safetensors.torch import load_file, save_file

    from bench.runner import run_cell
    from bench.storage.cache import open_entry, store_entry

    cell = only_cell(fast_spec(tasks=["glue-rte"], methods=["bitfit"], seeds=[4]))
    first = run_cell(cell, data_dir=str(tiny_glue_dir))
    entry = entry_of(cell, cache)
    tensors = load_file(str(entry / WEIGHTS))
    stats = (entry / STATS).read_text()
    renamed = dict(tensors)
    name = sorted(renamed)[0]
    renamed[name.replace(".bias", ".not_a_bias")] = renamed.pop(name)
    # an intact entry (its manifest matches) whose tensors are not the model's trainable parameters
    for path in entry.iterdir():
        path.unlink()
    entry.rmdir()

    def write(folder):
        save_file(renamed, str(folder / WEIGHTS))
        (folder / STATS).write_text(stats)

    store_entry(entry, write)
    assert open_entry(entry) == entry and (entry / MANIFEST).exists()
    capsys.readouterr()
    again = run_cell(cell, data_dir=str(tiny_glue_dir))
    assert "is a delta whose tensors are not the model's trainable parameters" in capsys.readouterr().err
    assert [t["from_cache"] for t in again["training"]] == [False]  # trained again
    assert again["metrics"] == first["metrics"]
    assert set(load_file(str(entry / WEIGHTS))) == set(tensors)  # and stored again, right
    assert [t["from_cache"] for t in run_cell(cell, data_dir=str(tiny_glue_dir))["training"]] == [True]

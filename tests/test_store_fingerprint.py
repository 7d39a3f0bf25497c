"""The content of the files a cell reads is part of its key (bench/storage/fingerprint.py): an edited data
file or retrained weights make a new cell, the same files elsewhere the same cell."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from bench.cell import Cell
from bench.storage.fingerprint import cell_inputs

VERSIONS = {"torch": "2.0", "transformers": "4.0"}
ROOT = Path(__file__).resolve().parents[1]


def fingerprinted(cell, data_dir):
    return dataclasses.replace(cell, inputs=cell_inputs(cell, str(data_dir)))


def keys(cell) -> tuple[str, str, str]:
    from bench.storage.cache import prefix_key

    return cell.key(VERSIONS), cell.identity(), prefix_key(cell, 0, VERSIONS)


@pytest.fixture
def data_copy(tmp_path, tiny_glue_dir):
    return Path(shutil.copytree(tiny_glue_dir, tmp_path / "data"))


@pytest.fixture
def model_copy(tmp_path, tiny_model_dir):
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


@pytest.fixture
def rte_cell(fast_spec, model_copy):
    from bench.spec import expand

    (cell,) = expand(fast_spec(models=[str(model_copy)]))
    return cell


def test_inputs_name_the_files_read_by_relative_label_only(rte_cell, data_copy, model_copy):
    inputs = dict(fingerprinted(rte_cell, data_copy).inputs)
    assert {"data/glue/RTE/train.tsv", "data/glue/RTE/dev.tsv", "model/model.safetensors", "model/config.json",
            "model/vocab.txt"} <= set(inputs)
    assert not any(str(data_copy) in label or str(model_copy) in label for label in inputs)
    assert all(value.startswith("sha256:") for value in inputs.values())


@pytest.mark.parametrize("split", ["train", "dev"])
def test_editing_a_data_file_changes_every_key(rte_cell, data_copy, split):
    before = keys(fingerprinted(rte_cell, data_copy))
    path = data_copy / "glue" / "RTE" / f"{split}.tsv"
    path.write_text(path.read_text() + "a new sentence .\tanother one .\tentailment\n")
    after = keys(fingerprinted(rte_cell, data_copy))
    assert all(b != a for b, a in zip(before, after, strict=False))


def test_the_same_files_in_another_folder_give_the_same_key(rte_cell, data_copy, tiny_glue_dir):
    assert fingerprinted(rte_cell, data_copy).key(VERSIONS) == fingerprinted(rte_cell, tiny_glue_dir).key(VERSIONS)


def test_retrained_weights_in_the_model_directory_change_the_key(rte_cell, data_copy, model_copy):
    import torch
    import transformers

    before = keys(fingerprinted(rte_cell, data_copy))
    model = transformers.AutoModel.from_pretrained(str(model_copy))
    with torch.no_grad():
        model.embeddings.word_embeddings.weight[0, 0] += 1.0
    model.save_pretrained(str(model_copy))
    after = keys(fingerprinted(rte_cell, data_copy))
    assert all(b != a for b, a in zip(before, after, strict=False))


def test_large_files_are_fingerprinted_by_size_and_edges(tmp_path, monkeypatch):
    from bench.storage import fingerprint

    monkeypatch.setattr(fingerprint, "WHOLE_FILE_LIMIT", 8)
    monkeypatch.setattr(fingerprint, "EDGE_BYTES", 4)
    path = tmp_path / "weights.bin"

    def value(content: bytes) -> str:
        path.write_bytes(content)
        return fingerprint._fingerprint(path, len(content))

    base = value(b"0123456789abcdef")
    assert value(b"0123456789abcdeX") != base  # the last bytes
    assert value(b"0123456789abcdef!") != base  # the size
    assert value(b"0123XXXXXXXXcdef") == base  # the middle of a big file is not read: the cost of speed


def test_cells_without_local_files_keep_their_committed_keys():
    # Architecture-only cells read no data and build their model from a config: no inputs, and
    # the keys of the records committed before inputs existed still match.
    records = [json.loads(p.read_text()) for p in sorted((ROOT / "results" / "peft" / "records").glob("[!.]*.json"))]
    records = [r for r in records if r["config"]["arch_only"]]
    assert records
    for record in records:
        assert "inputs" not in record["config"]
        cell = Cell.from_dict(record["config"])
        assert cell.inputs == () and cell_inputs(cell, None) == ()
        assert cell.key(record["versions"]) == record["key"] and cell.identity() == record["identity"]


def test_inputs_round_trip_through_a_record(rte_cell, data_copy):
    cell = fingerprinted(rte_cell, data_copy)
    again = Cell.from_dict(json.loads(json.dumps(cell.to_dict())))
    assert again == cell and again.key(VERSIONS) == cell.key(VERSIONS) and again.inputs


def test_a_kd_teacher_shares_the_full_ft_cells_key(fast_spec, data_copy, model_copy, tiny_model_dir):
    from bench.distill.teachers import TeacherRef
    from bench.spec import expand
    from bench.storage.cache import prefix_key

    teacher = str(tiny_model_dir)
    (kd,) = expand(fast_spec(models=[str(model_copy)], methods=[f"kd-soft(student=truncate:1,teacher={teacher})"]))
    (full_ft,) = expand(fast_spec(models=[teacher]))
    kd, full_ft = fingerprinted(kd, data_copy), fingerprinted(full_ft, data_copy)
    assert "chain[0].teacher/model.safetensors" in dict(kd.inputs)
    teacher_cell = TeacherRef(teacher, kd.seed).cell(kd)
    assert teacher_cell.inputs == full_ft.inputs
    assert prefix_key(teacher_cell, 0, VERSIONS) == prefix_key(full_ft, 0, VERSIONS)


def test_cross_lingual_cells_read_both_languages(fast_spec, data_copy):
    from bench.spec import expand

    (cell,) = expand(fast_spec(tasks=["xling-sst2-en-pt"]))
    labels = {label for label, _ in cell_inputs(cell, str(data_copy))}
    assert {"data/glue/SST-2/train.tsv", "data/plue/SST-2/train.tsv", "data/plue/SST-2/dev.tsv"} <= labels
    assert "data/glue/SST-2/dev.tsv" not in labels


def test_the_record_config_shows_the_fingerprints(tmp_path, rte_cell, data_copy, monkeypatch):
    from bench.executors import local
    from bench.storage.store import read_record, write_record

    def fake(cell, key, path, data_dir, timeout, workdir, on_phase=None):
        write_record(path, {"status": "success", "key": key, "config": cell.to_dict()})
        return 0, ""

    monkeypatch.setattr(local, "_run_process", fake)
    (outcome,) = local.run_matrix([rte_cell], tmp_path / "records", data_dir=data_copy, progress=False)
    config = read_record(outcome.path)["config"]
    assert dict(map(tuple, config["inputs"])) == dict(cell_inputs(rte_cell, str(data_copy)))
    assert outcome.cell.inputs and outcome.path.name.endswith(outcome.cell.key(local.result_versions())[:12] + ".json")

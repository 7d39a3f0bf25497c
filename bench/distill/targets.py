"""Offline KD: a teacher's outputs on a training set, computed once and cached on disk.

Keyed by the teacher's key and a digest of the exact token ids, one cache entry per output
('logits', 'hidden-3', 'attention-2'; bench/storage/cache.py checks each against its manifest), so
students of any depth or kind reuse what an earlier cell computed and a student's
training does no teacher forward pass. Hidden states and attention maps are stored
unpadded in fp16 (they are targets, not weights): half the bytes of fp32. fp16 rather than
bf16 because the values are bounded (post-LayerNorm states, |x| < 11 for MiniLM; softmax
probabilities), so fp16's three extra mantissa bits cost nothing, and they keep the losses of a
student near its teacher within 1e-3 of the fp32 targets' where bf16's miss
(tests/test_teacher_cache_precision.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

BATCH_SIZE = 32
OUTPUT_FILE = "outputs.safetensors"  # in the entry folder of each output


def features_digest(features: list[dict]) -> str:
    """Hash of the token ids and segment ids the teacher sees, in order."""
    digest = hashlib.sha256()
    for feature in features:
        digest.update(json.dumps([feature["input_ids"], feature.get("token_type_ids")]).encode())
    return digest.hexdigest()


def targets_dir(teacher_key: str, features: list[dict]) -> Path:
    from bench.storage.cache import cache_root

    name = hashlib.sha256(f"{teacher_key}|{features_digest(features)}".encode()).hexdigest()
    return cache_root() / f"targets-{name}"


class TeacherOutputs:
    """One teacher's outputs per example, gathered into padded batches on demand."""

    def __init__(self, tensors: dict):
        self.tensors = tensors  # name -> {"values": ..., "offsets": ...}; offsets only for ragged outputs

    def batch(self, names, index, length: int, device: str) -> dict:
        return {name: self._gather(name, index, length).to(device) for name in names}

    def _gather(self, name: str, index, length: int):
        import torch

        values = self.tensors[name]["values"]
        if name == "logits":
            return values[index.cpu()]
        offsets = self.tensors[name]["offsets"]
        rows = []
        for i in index.tolist():
            flat = values[offsets[i] : offsets[i + 1]].float()
            if name.startswith("hidden"):  # [len, H] -> [length, H]
                rows.append(torch.nn.functional.pad(flat, (0, 0, 0, length - flat.shape[0])))
            else:  # attention [heads * len * len] -> [heads, length, length]
                heads = int(self.tensors[name]["heads"])
                size = int(round((flat.numel() / heads) ** 0.5))
                grid = flat.view(heads, size, size)
                rows.append(torch.nn.functional.pad(grid, (0, length - size, 0, length - size)))
        return torch.stack(rows)


def teacher_outputs(teacher, teacher_key: str, names: list[str], features: list[dict], tokenizer, device: str):
    """The outputs `names` of `teacher` on `features`, from the cache or computed now (then cached).

    Returns the outputs and the cost for the record: forward passes and examples run here
    (zero when every output came from the cache) and the cache's bytes on disk.
    """
    from safetensors.torch import load_file

    from bench.storage.cache import open_entry

    directory = targets_dir(teacher_key, features)
    cached = {name: open_entry(directory / name) for name in names}  # a corrupt entry is deleted: computed again
    missing = [name for name in names if cached[name] is None]
    passes, computed = 0, {}
    if missing:
        computed, passes = _compute(teacher, missing, features, tokenizer, device)
        for name, tensors in computed.items():
            _store(directory / name, tensors)
    tensors = {name: computed.get(name) or load_file(str(cached[name] / OUTPUT_FILE)) for name in names}
    sizes = {name: (directory / name / OUTPUT_FILE).stat().st_size for name in names
             if (directory / name / OUTPUT_FILE).exists()}
    cost = {
        "outputs": list(names),
        "from_cache": not missing,
        "forward_passes": passes,
        "forward_examples": len(features) if missing else 0,
        "cache_bytes": sum(sizes.values()),
        # Per entry, so a table counts an entry two students share (logits, the last layer) once.
        "entry": directory.name,
        "entry_bytes": sizes,
    }
    return TeacherOutputs(tensors), cost


def _compute(teacher, names: list[str], features: list[dict], tokenizer, device: str) -> tuple[dict, int]:
    import torch

    from bench.data import collate, sorted_batches
    from bench.distill.attention import eager_attention

    hidden = [int(n.split("-")[1]) for n in names if n.startswith("hidden-")]
    attention = [int(n.split("-")[1]) for n in names if n.startswith("attention-")]
    rows = {name: [None] * len(features) for name in names}
    lengths = [len(f["input_ids"]) for f in features]
    passes = 0
    with eager_attention(teacher, needed=bool(attention)), torch.inference_mode():
        for indices in sorted_batches(lengths, BATCH_SIZE):
            inputs = [{k: v for k, v in features[i].items() if k not in ("labels", "kd_index")} for i in indices]
            out = teacher(**collate(tokenizer, inputs, device), output_hidden_states=bool(hidden),
                          output_attentions=bool(attention))
            passes += 1
            for row, i in enumerate(indices):
                n = lengths[i]
                if "logits" in rows:
                    rows["logits"][i] = out.logits[row].float().cpu()
                for layer in hidden:  # hidden_states[0] is the embedding output
                    rows[f"hidden-{layer}"][i] = out.hidden_states[layer][row, :n].half().cpu()
                for layer in attention:  # attentions[0] is layer 1's
                    rows[f"attention-{layer}"][i] = out.attentions[layer - 1][row, :, :n, :n].half().cpu()
    computed = {}
    for name, items in rows.items():
        if name == "logits":
            computed[name] = {"values": torch.stack(items)}
            continue
        sizes = torch.tensor([0] + [t.numel() if name.startswith("attention") else t.shape[0] for t in items])
        flat = torch.cat([t.reshape(-1) if name.startswith("attention") else t for t in items])
        computed[name] = {"values": flat, "offsets": sizes.cumsum(0)}
        if name.startswith("attention"):
            computed[name]["heads"] = torch.tensor(items[0].shape[0])
    return computed, passes


def _store(entry: Path, tensors: dict) -> None:
    from safetensors.torch import save_file

    from bench.storage.cache import store_entry

    store_entry(entry, lambda folder: save_file({k: v.contiguous() for k, v in tensors.items()},
                                                str(folder / OUTPUT_FILE)))

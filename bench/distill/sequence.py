"""Teacher outputs for sequence-level KD (Kim and Rush 2016), computed once and cached on disk.

- Beam outputs: the teacher's K-best hypotheses (token ids, best first) for every training
  source. Seq-KD trains on the best, Seq-Inter on the one closest to the reference; both read
  one entry (it is the same search), keyed by the teacher's key, the sources and the settings.
- Top-k logits: the teacher's k largest logits at every target position under teacher forcing
  (fp16 values, int32 ids), for Word-KD; keyed by the teacher's key and the (source, target)
  pairs, so Word-KD on the references and on Seq-KD's targets are two entries.

Entries go through bench/storage/cache.py (built aside, checked against their manifest), so a
student of any size reuses what an earlier cell computed, and its training runs no teacher
pass. A teacher whose outputs are all cached is not even loaded.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

BATCH_SIZE = 32  # sources per teacher batch (times the beam in decoder rows)
OUTPUTS = "outputs.safetensors"
INFO = "info.json"
# Beam slots that never received a finished hypothesis score -1e9 (bench/generation/beam.py).
UNUSED_SCORE = -1.0e8


class Teacher:
    """A fine-tuned teacher (bench/distill/teachers.py) whose cache key is known at once and whose
    weights are loaded, or trained, on first use only."""

    def __init__(self, ctx, options):
        from bench.distill.teachers import the_teacher

        (self.ref,) = the_teacher(ctx.cell, options)
        self.ctx = ctx
        self.key = self.ref.key(ctx.cell)
        self.info = {"model": self.ref.model, "seed": self.ref.seed, "key": self.key, "loaded": False}
        self.passes = 0  # teacher batches run in this cell (decoding and teacher forcing)
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from bench.distill.teachers import fine_tuned_teacher

            self._model, info = fine_tuned_teacher(self.ref, self.ctx)
            self.info.update(info, loaded=True)
        return self._model

    def release(self) -> None:
        import gc

        import torch

        self._model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


@dataclass(frozen=True)
class Candidate:
    tokens: tuple[int, ...]  # generated ids, EOS cut off
    score: float  # the search's score (log-prob / length ** length_penalty)
    eos: bool  # False: it stopped at max_new_tokens


def features_digest(features: list[dict], targets: bool) -> str:
    """Hash of the source ids (and the target ids when `targets`), in order."""
    digest = hashlib.sha256()
    for feature in features:
        item = [feature["input_ids"], feature["labels"]] if targets else [feature["input_ids"]]
        digest.update(json.dumps(item).encode())
    return digest.hexdigest()


def entry_dir(kind: str, teacher_key: str, features: list[dict], targets: bool, settings: str) -> Path:
    from bench.storage.cache import cache_root

    text = f"{kind}|{teacher_key}|{features_digest(features, targets)}|{settings}"
    return cache_root() / f"{kind}-{hashlib.sha256(text.encode()).hexdigest()}"


def beam_outputs(teacher: Teacher, features: list[dict], settings, tokenizer, device: str):
    """Every source's `settings.beam` best hypotheses (unused beam slots dropped), and the cost."""
    key = json.dumps(settings.to_dict(), sort_keys=True)
    tensors, info, cost = _cached_or(entry_dir("beams", teacher.key, features, False, key),
                                     lambda: _decode(teacher, features, settings, tokenizer, device))
    tokens, offsets = tensors["tokens"].tolist(), tensors["offsets"].tolist()
    scores, eos = tensors["scores"].tolist(), tensors["eos"].tolist()
    beams = settings.beam
    candidates = []
    for source in range(len(features)):
        slots = range(source * beams, (source + 1) * beams)
        candidates.append([Candidate(tuple(tokens[offsets[j] : offsets[j + 1]]), scores[j], bool(eos[j]))
                           for j in slots if scores[j] > UNUSED_SCORE])
    cost.update(settings=settings.to_dict(), sentences=len(features), decode_s_when_computed=info["seconds"],
                device_when_computed=info["device"], sentences_decoded=0 if cost["from_cache"] else len(features),
                decode_s=0.0 if cost["from_cache"] else info["seconds"])
    return candidates, cost


def _decode(teacher: Teacher, features: list[dict], settings, tokenizer, device: str):
    import torch

    from bench.data import sorted_batches
    from bench.generation.decoding import decode
    from bench.generation.seq2seq import adapter_for

    generator = adapter_for(teacher.model)
    lengths = [len(f["input_ids"]) for f in features]
    rows: list = [None] * len(features)
    batches = sorted_batches(lengths, BATCH_SIZE)
    started = time.perf_counter()
    for indices in batches:
        batch = tokenizer.pad([{k: features[i][k] for k in ("input_ids", "attention_mask")} for i in indices],
                              return_tensors="pt")
        found = decode(generator, batch["input_ids"].to(device), batch["attention_mask"].to(device), settings,
                       n_best=settings.beam)
        teacher.passes += 1
        for i, hypotheses in zip(indices, found, strict=True):
            rows[i] = hypotheses
    seconds = time.perf_counter() - started
    flat = [h for hypotheses in rows for h in hypotheses]
    sizes = torch.tensor([0] + [len(h.tokens) for h in flat], dtype=torch.int64)
    tensors = {
        "tokens": torch.tensor([t for h in flat for t in h.tokens], dtype=torch.int32),
        "offsets": sizes.cumsum(0),
        "scores": torch.tensor([h.score for h in flat], dtype=torch.float32),
        "eos": torch.tensor([h.end == "eos" for h in flat], dtype=torch.uint8),
    }
    return tensors, {"seconds": seconds, "device": str(device), "sentences": len(features), "batches": len(batches)}


class TopK:
    """The teacher's top-k logits per target token of every example, gathered per batch."""

    def __init__(self, tensors: dict):
        self.values = tensors["values"]  # [tokens, k] fp16
        self.indices = tensors["indices"]  # [tokens, k] int32
        self.offsets = tensors["offsets"].tolist()  # example i: rows offsets[i]:offsets[i + 1]

    def batch(self, index, labels, device: str):
        """(values [B, T, k] float32, indices [B, T, k] int64) aligned with `labels` [B, T] (-100 padded)."""
        import torch

        rows, k = labels.shape, self.values.shape[1]
        values = torch.zeros(*rows, k, dtype=torch.float32)
        indices = torch.zeros(*rows, k, dtype=torch.int64)
        lengths = (labels != -100).sum(1).tolist()
        for row, i in enumerate(index.tolist()):
            start, end = self.offsets[i], self.offsets[i + 1]
            if end - start != lengths[row]:
                raise RuntimeError(f"teacher top-k of example {i} has {end - start} positions, its target "
                                   f"{lengths[row]}: the cached outputs belong to other targets")
            values[row, : end - start] = self.values[start:end].float()
            indices[row, : end - start] = self.indices[start:end].long()
        return values.to(device), indices.to(device)


def topk_logits(teacher: Teacher, features: list[dict], k: int, tokenizer, device: str):
    """The teacher's top-k logits under teacher forcing on the features' targets, and the cost."""
    tensors, info, cost = _cached_or(entry_dir("topk", teacher.key, features, True, f"k={k}"),
                                     lambda: _teacher_forcing(teacher, features, k, tokenizer, device))
    cost.update(outputs=f"top-{k} logits per target token (fp16 values, int32 ids)", tokens=int(info["tokens"]),
                forward_examples=0 if cost["from_cache"] else len(features),
                compute_s=0.0 if cost["from_cache"] else info["seconds"], compute_s_when_computed=info["seconds"])
    return TopK(tensors), cost


def _teacher_forcing(teacher: Teacher, features: list[dict], k: int, tokenizer, device: str):
    import torch

    from bench.data import collate, sorted_batches

    model = teacher.model
    lengths = [len(f["input_ids"]) + len(f["labels"]) for f in features]
    values, indices = [None] * len(features), [None] * len(features)
    started = time.perf_counter()
    with torch.inference_mode():
        for batch_indices in sorted_batches(lengths, BATCH_SIZE):
            batch = collate(tokenizer, [{key: features[i][key] for key in ("input_ids", "attention_mask", "labels")}
                                        for i in batch_indices], device)
            logits = model(**batch).logits
            teacher.passes += 1
            for row, i in enumerate(batch_indices):
                top = logits[row, : len(features[i]["labels"])].float().topk(min(k, logits.shape[-1]), dim=-1)
                values[i], indices[i] = top.values.half().cpu(), top.indices.int().cpu()
    sizes = torch.tensor([0] + [len(f["labels"]) for f in features], dtype=torch.int64)
    tensors = {"values": torch.cat(values), "indices": torch.cat(indices), "offsets": sizes.cumsum(0)}
    info = {"seconds": time.perf_counter() - started, "device": str(device), "tokens": int(sizes.sum())}
    return tensors, info


def _cached_or(directory: Path, compute):
    """(tensors, info, cost) from the entry at `directory`, or computed by `compute()` and stored."""
    from safetensors.torch import load_file, save_file

    from bench.storage.cache import open_entry, store_entry

    entry = open_entry(directory)  # a corrupt entry is deleted: computed again
    if entry is not None:
        tensors, info = load_file(str(entry / OUTPUTS)), json.loads((entry / INFO).read_text())
    else:
        tensors, info = compute()

        def write(folder: Path) -> None:
            save_file({name: t.contiguous() for name, t in tensors.items()}, str(folder / OUTPUTS))
            (folder / INFO).write_text(json.dumps(info))

        store_entry(directory, write)
    stored = directory / OUTPUTS
    cost = {"from_cache": entry is not None, "cache_entry": directory.name,
            "cache_bytes": stored.stat().st_size if stored.exists() else 0}
    return tensors, info, cost

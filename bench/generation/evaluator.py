"""How the runner evaluates and measures a generation task: decode every source, detokenise,
let the task score the text; then time decoding and count FLOPs per generated token.

The seed's translation table reports greedy decoding (K=1), so that is the default setting;
the record states the settings and the rule that bounds each batch's output length.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bench.errors import UsageError
from bench.generation.decoding import DecodeSettings

# Each batch may generate up to 1.5x its longest source plus 10 tokens (capped by the settings):
# a translation is rarely longer, and a model that never emits EOS cannot run away.
LENGTH_RATIO, LENGTH_SLACK = 1.5, 10
# Timed decoding runs use one source length and decode a fixed number of tokens (EOS ignored),
# so every model is timed on the same work; Multi30k sources are 12-18 subwords long.
TIMED_SOURCE_TOKENS, TIMED_NEW_TOKENS = 24, 24


@dataclass(frozen=True)
class GeneratorEvaluator:
    settings: DecodeSettings = DecodeSettings(beam=1, max_new_tokens=256)
    timed_source_tokens: int = TIMED_SOURCE_TOKENS
    timed_new_tokens: int = TIMED_NEW_TOKENS

    def predict(self, task, artifact, tokenizer, examples, cell, prompt=None, data_dir=None) -> list[str]:
        """The decoded text of each example's source, in input order."""
        if prompt is not None:
            raise UsageError(f"{task.name} has no prompt formats: few-shot prompting serves reasoning tasks (gsm8k)")
        from bench.data import encode, sorted_batches
        from bench.generation.decoding import decode
        from bench.generation.seq2seq import adapter_for

        model = adapter_for(_module(artifact))
        features = encode(tokenizer, examples, cell.budget.max_seq_len, with_labels=False)
        lengths = [len(f["input_ids"]) for f in features]
        outputs: list = [None] * len(features)
        for indices in sorted_batches(lengths, cell.budget.eval_batch_size):
            batch = tokenizer.pad([features[i] for i in indices], return_tensors="pt")
            limit = min(self.settings.max_new_tokens, int(LENGTH_RATIO * max(lengths[i] for i in indices)) + LENGTH_SLACK)
            settings = replace(self.settings, max_new_tokens=limit)
            best = decode(model, batch["input_ids"].to(cell.device), batch["attention_mask"].to(cell.device), settings)
            for i, hypotheses in zip(indices, best, strict=True):
                outputs[i] = tokenizer.decode(list(hypotheses[0].tokens), skip_special_tokens=True)
        return outputs

    def transcript(self, predictions) -> dict:
        """Every output, so scores can be re-checked."""
        return {"text": list(predictions)}

    def measure(self, artifact, tokenizer, cell, flops_module) -> tuple[dict, dict | None, dict]:
        """(no per-call latency, FLOPs per generated token, {"generation": decode speed}).

        Decode speed follows the cell's latency preset; FLOPs are counted on `flops_module`."""
        import torch

        from bench.generation.flops import generation_flops
        from bench.generation.measure import measure_generation
        from bench.generation.seq2seq import adapter_for

        module = _module(artifact)
        special = set(tokenizer.all_special_ids)
        vocabulary = [i for i in range(len(tokenizer)) if i not in special]

        def inputs(batch_size: int):
            generator = torch.Generator().manual_seed(batch_size)
            picks = torch.randint(len(vocabulary), (batch_size, self.timed_source_tokens), generator=generator)
            ids = torch.tensor(vocabulary)[picks]
            return ids.to(cell.device), torch.ones_like(ids)

        flops = None
        if cell.measure.flops:
            ids, mask = inputs(1)
            flops = generation_flops(adapter_for(flops_module), ids, mask).to_dict()
        if cell.measure.latency == "off":
            return {}, flops, {}
        timed = replace(self.settings, max_new_tokens=self.timed_new_tokens)
        measured = measure_generation(adapter_for(module), inputs, timed, batch_sizes=cell.measure.batch_sizes,
                                      preset=cell.measure.latency, device=cell.device)
        section = dict(measured.to_dict(), source_tokens=self.timed_source_tokens, preset=cell.measure.latency)
        return {}, flops, {"generation": section}

    def describe(self, task) -> dict:
        return {"decoding": dict(self.settings.to_dict(), max_new_tokens_rule=(
                    f"min({self.settings.max_new_tokens}, {LENGTH_RATIO} x longest source in the batch + "
                    f"{LENGTH_SLACK})")),
                "metric_signatures": task.metric_signatures()}


def _module(artifact):
    module = getattr(artifact, "module", None)
    if artifact.runtime == "torch.compile":
        # The compiled graph is one forward at fixed shapes; decoding would run the eager module
        # and the record would name a runtime that did not run.
        raise UsageError("int8-dynamic's compiled graph serves classifiers; for generation use "
                         "int8-dynamic(compile=false) or int8-dynamic(backend=torch.ao)")
    if module is None:
        raise UsageError(f"generation runs on PyTorch models; this chain made a {artifact.runtime} artifact "
                         "(its decoding is not implemented here)")
    return module


GENERATOR = GeneratorEvaluator()

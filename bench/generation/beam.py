"""Beam search, batched, with transformers' bookkeeping so that it returns what
`model.generate(num_beams=K, do_sample=False)` returns.

The facts copied from transformers (generation/utils.py, `_beam_search`), since each one
changes which hypothesis wins:
- every row keeps 2K candidates per step (K more per extra EOS id), so K beams stay alive
  when the best K all end;
- a candidate ends on EOS or at the last position; only candidates ranked in the top K of
  the step may enter the finished set, scored log_prob / generated_length**length_penalty,
  the length counting the EOS;
- the finished set of a row is closed when it is full and early_stopping is True, or when
  the best running beam, penalised at its current length (at max_new_tokens when
  early_stopping == "never" and length_penalty > 0), cannot beat its worst member;
- all rows step until every row is closed (or all candidates end), on the same shapes.
Scores are masked with -1e9 in float32, as there, so that ties break the same way.
"""

from __future__ import annotations

from bench.generation.decoding import Decodable, DecodeSettings, Hypothesis, _hypothesis
from bench.generation.rules import TokenRules

_BLOCKED = -1.0e9  # transformers' "impossible" score; adding it keeps the tensors finite


def beam_search(model: Decodable, input_ids, attention_mask, settings: DecodeSettings, rules: TokenRules, *,
                n_best: int = 1) -> list[list[Hypothesis]]:
    import torch

    beams, max_new = settings.beam, settings.max_new_tokens
    penalty, early = settings.length_penalty, settings.early_stopping
    logits, state = model.prefill(input_ids, attention_mask, beams=beams)
    device = logits.device
    rows, vocab = logits.shape[0] // beams, logits.shape[-1]
    keep = max(2, 1 + len(rules.eos_token_ids)) * beams
    in_top_beams = torch.arange(keep, device=device) < beams
    eos = torch.tensor(rules.eos_token_ids, dtype=torch.long, device=device)
    row_offset = torch.arange(rows, device=device)[:, None] * beams

    # Running beams: tokens, summed log-probabilities; only beam 0 is live at the start, so
    # the K beams do not all pick the same first token.
    alive = torch.full((rows, beams, max_new), rules.pad_token_id, dtype=torch.long, device=device)
    alive_scores = torch.zeros(rows, beams, dtype=torch.float32, device=device)
    alive_scores[:, 1:] = _BLOCKED
    # Finished hypotheses: tokens, penalised score, log-probability, length, whether a slot is used.
    done = alive.clone()
    done_scores = torch.full((rows, beams), _BLOCKED, dtype=torch.float32, device=device)
    done_log_probs = torch.zeros(rows, beams, dtype=torch.float32, device=device)
    done_lengths = torch.zeros(rows, beams, dtype=torch.long, device=device)
    done_used = torch.zeros(rows, beams, dtype=torch.bool, device=device)
    open_rows = torch.ones(rows, 1, dtype=torch.bool, device=device)  # may still improve its finished set

    for position in range(max_new):
        if position:
            logits, state = model.step(alive[:, :, position - 1].reshape(-1), state)
        log_probs = rules.apply(torch.log_softmax(logits.float(), dim=-1), position, max_new)
        totals = (log_probs.view(rows, beams, vocab) + alive_scores[:, :, None]).view(rows, beams * vocab)

        # Candidates: the best `keep` continuations over all beams of a row.
        cand_scores, flat = torch.topk(totals, k=keep)
        source = flat // vocab
        cand_tokens = flat % vocab
        candidates = _gather(alive, source)
        candidates[:, :, position] = cand_tokens
        ends = torch.isin(cand_tokens, eos) | (position + 1 >= max_new)

        # The K best candidates that go on.
        running_scores = cand_scores + ends.to(torch.float32) * _BLOCKED
        chosen = torch.topk(running_scores, k=beams)[1]
        alive, alive_scores = _gather(candidates, chosen), _gather(running_scores, chosen)
        alive_source = _gather(source, chosen)

        # Candidates that ended join the finished set if they beat its members.
        just_ended = ends & in_top_beams[None, :]
        penalised = cand_scores / ((position + 1) ** penalty)
        full = torch.all(done_used, dim=-1, keepdim=True) & (early is True)
        penalised += full.to(torch.float32) * _BLOCKED
        penalised += (~open_rows).to(torch.float32) * _BLOCKED
        penalised += (~just_ended) * _BLOCKED
        merged_scores = torch.cat((done_scores, penalised), dim=1)
        best = torch.topk(merged_scores, k=beams)[1]
        done = _gather(torch.cat((done, candidates), dim=1), best)
        done_scores = _gather(merged_scores, best)
        done_log_probs = _gather(torch.cat((done_log_probs, cand_scores), dim=1), best)
        done_lengths = _gather(torch.cat((done_lengths, torch.full_like(source, position + 1)), dim=1), best)
        done_used = _gather(torch.cat((done_used, just_ended), dim=1), best)

        state = model.reorder(state, (alive_source + row_offset).view(-1))
        generated = position + 1
        best_length = max_new if (early == "never" and penalty > 0.0) else generated
        best_running = alive_scores[:, :1] / (best_length**penalty)
        worst_done = torch.where(done_used, torch.min(done_scores, dim=1, keepdim=True)[0], _BLOCKED)
        open_rows = open_rows & torch.any(best_running > worst_done, dim=-1, keepdim=True)
        all_full = bool(torch.all(done_used)) and early is True
        if not bool(torch.any(open_rows)) or all_full or bool(torch.all(ends)):
            break

    results = []
    for row in range(rows):
        hypotheses = []
        for slot in range(n_best):
            length = int(done_lengths[row, slot])
            ids = done[row, slot, :length].tolist()
            end = "eos" if ids and ids[-1] in rules.eos_token_ids else "length"
            hypotheses.append(_hypothesis(ids, float(done_log_probs[row, slot]), penalty, end,
                                          score=float(done_scores[row, slot])))
        results.append(hypotheses)
    return results


def _gather(tensor, indices):
    """tensor[row, indices[row, j], ...] for every row: the beams (or candidates) selected."""
    import torch

    while indices.dim() < tensor.dim():
        indices = indices.unsqueeze(-1)
    return torch.take_along_dim(tensor, indices, dim=1)

"""The LSTM encoder-decoder: learns four sentence pairs (it reverses them), decodes batched, and
its training path (teacher forcing) and its decoding steps compute the same logits."""

from __future__ import annotations

import pytest
import torch

from bench.generation.decoding import DecodeSettings, decode
from bench.generation.lstm import PRESETS, LSTMSeq2Seq, LSTMSeq2SeqConfig
from bench.generation.seq2seq import adapter_for
from tests.generation_models import one_thread  # noqa: F401  (autouse: tiny models run one thread)

PAD, BOS, EOS = 0, 1, 2
# Four pairs of different lengths; the target reverses the source, so attention must find
# the right source position at every step.
SOURCES = [[5, 6, 7, 8, 9], [10, 11, 12], [13, 5, 14, 6, 15, 7], [16, 17]]
TARGETS = [s[::-1] for s in SOURCES]


def tiny(input_feeding: bool = True, dropout: float = 0.0, seed: int = 0) -> LSTMSeq2Seq:
    torch.manual_seed(seed)
    config = LSTMSeq2SeqConfig(vocab_size=20, embedding_size=16, hidden_size=32, num_layers=2, dropout=dropout,
                               input_feeding=input_feeding, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS)
    return LSTMSeq2Seq(config)


def batch(sequences, pad):
    width = max(map(len, sequences))
    return torch.tensor([s + [pad] * (width - len(s)) for s in sequences])


def pairs():
    input_ids = batch([s + [EOS] for s in SOURCES], PAD)
    labels = batch([t + [EOS] for t in TARGETS], -100)
    return input_ids, (input_ids != PAD).long(), labels


def test_learns_to_reverse_four_pairs_and_decodes_them():
    model = tiny(dropout=0.1)
    input_ids, mask, labels = pairs()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(100):
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    assert losses[-1] < 0.1 < losses[0] / 10
    for settings in (DecodeSettings(beam=1, max_new_tokens=10), DecodeSettings(beam=3, max_new_tokens=10)):
        rows = decode(adapter_for(model), input_ids, mask, settings)
        assert [list(row[0].tokens) for row in rows] == TARGETS
        assert all(row[0].end == "eos" for row in rows)


@pytest.mark.parametrize("input_feeding", [True, False])
def test_teacher_forcing_equals_step_by_step_decoding(input_feeding):
    model = tiny(input_feeding=input_feeding).eval()
    input_ids, mask, labels = pairs()
    with torch.no_grad():
        forced = model(input_ids=input_ids, attention_mask=mask, labels=labels).logits
        logits, state = model.prefill(input_ids, mask)
        stepped = [logits]
        inputs = labels.masked_fill(labels == -100, PAD)
        for t in range(labels.shape[1] - 1):
            logits, state = model.step(inputs[:, t], state)
            stepped.append(logits)
    torch.testing.assert_close(torch.stack(stepped, 1), forced, rtol=1e-5, atol=1e-5)


def test_labels_shift_right_with_the_start_token():
    model = tiny()
    shifted = model.shift_right(torch.tensor([[7, 8, EOS, -100]]))
    assert shifted.tolist() == [[BOS, 7, 8, EOS]]


@pytest.mark.parametrize("beam", [1, 4])
def test_batched_decoding_equals_one_at_a_time(beam):
    model = tiny(seed=3).eval()
    input_ids, mask, _ = pairs()
    settings = DecodeSettings(beam=beam, max_new_tokens=8)
    batched = decode(model, input_ids, mask, settings, n_best=beam)
    for row in range(len(SOURCES)):
        keep = mask[row].bool()
        single = decode(model, input_ids[row : row + 1, keep], mask[row : row + 1, keep], settings, n_best=beam)
        assert [h.tokens for h in single[0]] == [h.tokens for h in batched[row]]
        assert [h.score for h in single[0]] == pytest.approx([h.score for h in batched[row]], abs=1e-5)


def test_never_emits_pad_or_start_and_rejects_left_padding():
    model = tiny(seed=1).eval()
    input_ids, mask, _ = pairs()
    rows = decode(model, input_ids, mask, DecodeSettings(beam=2, max_new_tokens=12), n_best=2)
    assert all(PAD not in h.tokens and BOS not in h.tokens for row in rows for h in row)
    with pytest.raises(ValueError, match="right-padded"):
        decode(model, input_ids.flip(1), mask.flip(1), DecodeSettings())


@pytest.mark.parametrize("preset, millions", [("4x1000", 221), ("2x500", 84)])
def test_paper_sizes(preset, millions):
    """Kim and Rush 2016 report 221M and 84M parameters with 50k-word vocabularies."""
    with torch.device("meta"):  # shapes only: no 900 MB allocation
        model = LSTMSeq2Seq(LSTMSeq2SeqConfig(vocab_size=50_000, dropout=0.3, **PRESETS[preset]))
    assert round(sum(p.numel() for p in model.parameters()) / 1e6) in (millions, millions + 1)

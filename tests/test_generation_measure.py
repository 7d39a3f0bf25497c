"""Generation measurements on tiny models: FLOPs per generated token (checked by hand for
the LSTM), time to first token, decode runs, split throughput."""

from __future__ import annotations

import json

import pytest
import torch

from bench.generation.decoding import DecodeSettings, decode
from bench.generation.flops import generation_flops
from bench.generation.lstm import LSTMSeq2Seq, LSTMSeq2SeqConfig
from bench.generation.measure import decode_runs, measure_generation, time_to_first_token
from bench.generation.seq2seq import adapter_for
from tests import generation_models as tiny
from tests.generation_models import one_thread  # noqa: F401  (autouse: tiny models run one thread)

H, E, V, LAYERS = 32, 16, 20, 2


@pytest.fixture(scope="module")
def marian():
    return adapter_for(tiny.marian())


def lstm() -> LSTMSeq2Seq:
    torch.manual_seed(0)
    config = LSTMSeq2SeqConfig(vocab_size=V, embedding_size=E, hidden_size=H, num_layers=LAYERS, dropout=0.0)
    return LSTMSeq2Seq(config).eval()


def test_lstm_flops_match_the_hand_count():
    source = 6
    flops = generation_flops(lstm(), torch.randint(3, V, (1, source)))
    decoder_lstm = 2 * (4 * H * (E + H) + 4 * H * H) + 2 * (4 * H * H + 4 * H * H)  # layer 1 reads [embedding; feed]
    attention = 2 * source * H * 2 + 2 * (2 * H) * H  # scores and context over the source, then W_c
    assert flops.step_flops == decoder_lstm + attention + 2 * H * V
    encoder = source * (2 * (4 * H * E + 4 * H * H) + 2 * (4 * H * H + 4 * H * H))
    assert flops.encoder_flops == encoder and flops.encoder_flops_per_source_token == encoder / source
    assert flops.prefill_flops == encoder + 2 * source * H * H + flops.step_flops  # + W_a over the memory
    # A recurrent state does not grow: a later step costs the same.
    assert generation_flops(lstm(), torch.randint(3, V, (1, source)), context_length=5).step_flops == flops.step_flops


def test_transformer_step_flops_grow_with_context_and_width(marian):
    ids, mask = tiny.sources()
    source, source_mask = ids[:1, :7], mask[:1, :7]
    first = generation_flops(marian, source, source_mask)
    later = generation_flops(marian, source, source_mask, context_length=9)
    assert (first.context_length, later.context_length) == (1, 9)
    assert 0 < first.step_flops < later.step_flops  # self-attention reads a longer cache
    assert later.step_flops - first.step_flops == 2 * 2 * 8 * 32 * 2  # 2 layers x (QK^T + AV) x 8 more keys x d
    assert first.prefill_flops > first.encoder_flops > 0 and first.prompt_tokens == 7
    wide = generation_flops(adapter_for(tiny.marian(d_model=64)), source, source_mask)
    assert wide.step_flops > 3 * first.step_flops and wide.encoder_flops > 3 * first.encoder_flops
    assert "2 x MACs" in first.convention and first.unit == "FLOP"
    with pytest.raises(ValueError, match="batch 1"):
        generation_flops(marian, ids, mask)


def test_decoder_only_flops_have_no_encoder():
    ids, mask = tiny.prompts()
    model = adapter_for(tiny.llama())
    flops = generation_flops(model, ids[2:3], mask[2:3])
    assert flops.encoder_flops is None and flops.context_length == flops.prompt_tokens == 8
    assert flops.prefill_flops > 5 * flops.step_flops > 0  # the prompt's 8 tokens against one
    with pytest.raises(ValueError, match="at least 8"):
        generation_flops(model, ids[2:3], mask[2:3], context_length=3)


def test_time_to_first_token(marian):
    ids, mask = tiny.sources()
    result = time_to_first_token(marian, ids[:1, :7], mask[:1, :7], beams=2, preset="quick")
    assert result.n >= 5 and result.unit == "ms" and result.timer == "perf_counter"
    assert 0 < result.min <= result.p50 <= result.max


def test_decode_runs_count_tokens_and_time_consistently(marian):
    ids, mask = tiny.sources()
    settings = DecodeSettings(beam=2, max_new_tokens=6)
    runs = decode_runs(marian, ids, mask, settings, preset="quick")
    rows = ids.shape[0]
    assert len(runs.rest_ms) >= 2 and runs.batch_size == rows and runs.prompt_tokens == ids.shape[1]
    assert runs.tokens_after_first == [rows * 5] * len(runs.rest_ms)  # fixed length: EOS ignored
    for first, rest, per_s, sentences in zip(runs.first_token_ms, runs.rest_ms, runs.decode_tokens_per_s,
                                             runs.sentences_per_s, strict=False):
        assert first > 0 and rest > 0
        assert per_s == pytest.approx(rows * 5 / (rest / 1e3))
        assert sentences == pytest.approx(rows / ((first + rest) / 1e3))
    assert runs.settings["beam"] == 2 and runs.fixed_length
    assert runs.stopped_by == "minimums" and runs.run_ms_ci95 is None  # quick: 2 runs give no interval
    natural = decode_runs(marian, ids, mask, settings, fixed_length=False, preset="quick")
    expected = sum(row[0].length - 1 for row in decode(marian, ids, mask, settings))
    assert natural.tokens_after_first[0] == expected


def test_measure_generation_record_is_json(marian):
    def inputs(batch_size):
        ids, mask = tiny.sources(lengths=(6,) * batch_size)
        return ids, mask

    result = measure_generation(marian, inputs, DecodeSettings(max_new_tokens=4), batch_sizes=(1, 4), preset="quick")
    record = json.loads(json.dumps(result.to_dict()))
    assert set(record["runs"]) == {"1", "4"} and record["runs"]["4"]["batch_size"] == 4
    assert record["ttft"]["p50"] > 0 and record["memory"]["peak_rss_bytes"] > 0
    assert all(record["runs"][b]["decode_tokens_per_s_median"] > 0 for b in ("1", "4"))

"""Tiny random generators for the generation tests: Marian, BART and Llama with vocab 100.

Random weights give near-uniform logits dominated by the decoder's positions, so every
source would decode to the same tokens; the cross-attention and the last layer norm are
scaled up and the output embeddings untied (tied ones make the decoder repeat its input),
so outputs depend on the source and leave beam search real choices to make; a bias on the
EOS logit makes hypotheses end at different steps.
"""

from __future__ import annotations

import pytest

VOCAB, PAD, EOS, BOS = 100, 99, 0, 1


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run one thread: on a shared 2-core machine, two threads spend most of each
    small op waiting for each other (an LSTM training step: 10 ms with one, 160 ms with two)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def marian(generation_overrides: dict | None = None, d_model: int = 32):
    import torch
    import transformers

    config = transformers.MarianConfig(
        vocab_size=VOCAB, d_model=d_model, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=2 * d_model, decoder_ffn_dim=2 * d_model, max_position_embeddings=64,
        pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD, forced_eos_token_id=EOS,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = _sharpen(transformers.MarianMTModel(config).eval())
    with torch.no_grad():
        model.final_logits_bias[0, EOS] = 6.5  # some hypotheses end early, some run to the limit
    for key, value in (generation_overrides or {}).items():
        setattr(model.generation_config, key, value)
    return model


def bart():
    import torch
    import transformers

    config = transformers.BartConfig(
        vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
        pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS, decoder_start_token_id=EOS, forced_eos_token_id=EOS,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = _sharpen(transformers.BartForConditionalGeneration(config).eval())
    with torch.no_grad():
        model.final_logits_bias[0, EOS] = 4.5
    return model


def llama():
    import torch
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        model.model.norm.weight *= 20
    return model


def _sharpen(model):
    import torch

    with torch.no_grad():
        for layer in model.model.decoder.layers:
            layer.encoder_attn.v_proj.weight *= 10
            layer.encoder_attn.out_proj.weight *= 10
        model.model.decoder.layers[-1].final_layer_norm.weight *= 30
    return model


def sources(lengths=(7, 3, 5, 9, 2, 6), seed: int = 1):
    """Right-padded source ids ending in EOS, of the given lengths, and their mask."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), PAD, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, : length - 1] = torch.randint(3, VOCAB - 1, (length - 1,), generator=generator)
        ids[row, length - 1] = EOS
    return ids, (ids != PAD).long()


def prompts(lengths=(6, 3, 8, 5), seed: int = 2):
    """Left-padded decoder-only prompts starting with BOS, and their mask."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), PAD, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        words = torch.randint(3, VOCAB - 1, (length - 1,), generator=generator)
        ids[row, -length:] = torch.cat([torch.tensor([BOS]), words])
        mask[row, -length:] = 1
    return ids, mask


def hf_hypotheses(sequences, prompt_length: int, eos: int = EOS) -> list[tuple[int, ...]]:
    """`generate`'s rows as our hypotheses' tokens: prompt dropped, cut before the first EOS."""
    result = []
    for row in sequences[:, prompt_length:].tolist():
        result.append(tuple(row[: row.index(eos)] if eos in row else row))
    return result

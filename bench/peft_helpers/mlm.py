"""Masked-language modelling on top of any encoder: what MAD-X trains language adapters with.

The head (dense + GELU + LayerNorm, decoder tied to the word embeddings) is built here
rather than loaded, because checkpoints such as sentence-transformers' MiniLM ship
without one. Masking follows BERT: 15% of the non-special tokens; of those 80% become
[MASK], 10% a random token, 10% stay.
"""

from __future__ import annotations

import torch
from torch import nn

IGNORE = -100


class MaskedLM(nn.Module):
    """An encoder with an MLM head; forward(batch) returns the masked-LM loss."""

    def __init__(self, encoder, word_embeddings: nn.Embedding):
        super().__init__()
        self.encoder = encoder
        width = word_embeddings.embedding_dim
        self.transform = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.LayerNorm(width))
        self.decoder_weight = word_embeddings.weight  # tied: not trained here
        self.decoder_bias = nn.Parameter(torch.zeros(word_embeddings.num_embeddings))

    def forward(self, input_ids, attention_mask, labels, **inputs):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **inputs).last_hidden_state
        selected = labels != IGNORE  # only masked positions pay for the vocabulary projection
        logits = self.transform(hidden[selected]) @ self.decoder_weight.t() + self.decoder_bias
        return nn.functional.cross_entropy(logits, labels[selected])


def mask_tokens(input_ids, special_mask, mask_id: int, vocab_size: int, generator, probability: float = 0.15):
    """(masked inputs, labels): labels hold the original id at masked positions, else IGNORE."""
    chosen = (torch.rand(input_ids.shape, generator=generator) < probability) & ~special_mask
    if not chosen.any():  # a batch of short texts can draw no position: mask one token
        candidates = (~special_mask).nonzero()
        row, col = candidates[torch.randint(len(candidates), (1,), generator=generator)][0]
        chosen[row, col] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    draw = torch.rand(input_ids.shape, generator=generator)
    masked = input_ids.clone()
    masked[chosen & (draw < 0.8)] = mask_id
    randomised = chosen & (draw >= 0.8) & (draw < 0.9)
    masked[randomised] = torch.randint(vocab_size, (int(randomised.sum()),), generator=generator)
    return masked, labels


def mlm_loss_function(tokenizer, seed: int):
    """compute_loss(model, batch) for the shared training loop, masking each batch afresh."""
    generator = torch.Generator().manual_seed(seed)
    special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)))

    def compute_loss(model: MaskedLM, batch: dict):
        input_ids = batch["input_ids"].cpu()
        special = torch.isin(input_ids, special_ids)
        masked, labels = mask_tokens(input_ids, special, tokenizer.mask_token_id, len(tokenizer), generator)
        device = batch["input_ids"].device
        inputs = {k: v for k, v in batch.items() if k not in ("input_ids", "labels")}
        return model(input_ids=masked.to(device), labels=labels.to(device), **inputs)

    return compute_loss

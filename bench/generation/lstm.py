"""The LSTM encoder-decoder of the sequence-level KD paper (Kim and Rush 2016): stacked
LSTMs with Luong et al. (2015) global "general" attention and input feeding.

With 50k-word vocabularies, 4 layers of 1000 units is the paper's 221M-parameter teacher and
2 layers of 500 its 84M student (`PRESETS`). It follows the transformers calling convention
(`forward(input_ids, attention_mask, labels)` -> `.loss`, `.logits`; `config.vocab_size`), so the
shared training loop trains it, and implements the decoding protocol
(`bench.generation.decoding.Decodable`) itself, so the shared search decodes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench.generation.rules import TokenRules

PRESETS = {  # Kim and Rush 2016, section 5: word embeddings as wide as the hidden state
    "4x1000": dict(num_layers=4, hidden_size=1000, embedding_size=1000),
    "2x500": dict(num_layers=2, hidden_size=500, embedding_size=500),
}


@dataclass
class LSTMSeq2SeqConfig:
    vocab_size: int  # source vocabulary
    target_vocab_size: int | None = None  # None: the source's (a joint subword vocabulary)
    embedding_size: int = 500
    hidden_size: int = 500
    num_layers: int = 2
    dropout: float = 0.3  # between LSTM layers and on the attentional vector, as in the paper
    input_feeding: bool = True  # the previous attentional vector joins the next input (Luong et al.)
    pad_token_id: int = 0
    bos_token_id: int = 1  # the decoder's start token
    eos_token_id: int = 2
    is_encoder_decoder: bool = True
    model_type: str = "lstm-seq2seq"

    @property
    def target_vocab(self) -> int:
        return self.target_vocab_size or self.vocab_size


@dataclass
class LSTMState:
    hidden: tuple  # (h, c), each [layers, N, H]
    feed: Any  # [N, H] attentional vector of the previous step (zeros at the start)
    memory: Any  # [N, S, H] encoder outputs
    keys: Any  # [N, S, H] memory projected once for the "general" score h_t^T W_a h_s
    mask: Any  # [N, S] bool, True on source tokens


class LSTMEncoder(nn.Module):
    def __init__(self, config: LSTMSeq2SeqConfig):
        super().__init__()
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.lstm = nn.LSTM(config.embedding_size, config.hidden_size, config.num_layers, batch_first=True,
                            dropout=config.dropout if config.num_layers > 1 else 0.0)

    def forward(self, input_ids, attention_mask):
        lengths = attention_mask.sum(1)
        if bool((attention_mask[:, 1:] > attention_mask[:, :-1]).any()):
            raise ValueError("LSTM sources must be right-padded")
        # Packing keeps the padding out of the final states, so a batch encodes as its rows alone.
        packed = nn.utils.rnn.pack_padded_sequence(self.embeddings(input_ids), lengths.clamp_min(1).cpu(),
                                                   batch_first=True, enforce_sorted=False)
        outputs, hidden = self.lstm(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=input_ids.shape[1])
        return outputs, hidden


class LSTMSeq2Seq(nn.Module):
    def __init__(self, config: LSTMSeq2SeqConfig):
        super().__init__()
        self.config = config
        hidden, embedding = config.hidden_size, config.embedding_size
        self.encoder = LSTMEncoder(config)
        self.target_embeddings = nn.Embedding(config.target_vocab, embedding, padding_idx=config.pad_token_id)
        self.decoder = nn.LSTM(embedding + (hidden if config.input_feeding else 0), hidden, config.num_layers,
                               batch_first=True, dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.attention_in = nn.Linear(hidden, hidden, bias=False)  # W_a
        self.attention_out = nn.Linear(2 * hidden, hidden, bias=False)  # W_c: tanh(W_c [context; h_t])
        self.dropout = nn.Dropout(config.dropout)
        self.generator = nn.Linear(hidden, config.target_vocab)
        special = (config.pad_token_id, config.bos_token_id)
        self.token_rules = TokenRules(  # pad and start are inputs only: they are never targets
            eos_token_ids=(config.eos_token_id,),
            pad_token_id=config.pad_token_id,
            suppress_token_ids=tuple(t for t in dict.fromkeys(special) if t != config.eos_token_id),
        )

    def get_input_embeddings(self):
        return self.encoder.embeddings

    # Training: teacher forcing through the same attention step the search uses.

    def forward(self, input_ids, attention_mask=None, labels=None, decoder_input_ids=None, **unused):
        from transformers.modeling_outputs import Seq2SeqLMOutput

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("LSTMSeq2Seq.forward needs labels or decoder_input_ids")
            decoder_input_ids = self.shift_right(labels)
        state = self._encode(input_ids, attention_mask)
        logits, _ = self._decode(decoder_input_ids, state)
        loss = None
        if labels is not None:
            flat = logits.reshape(-1, logits.shape[-1])
            loss = nn.functional.cross_entropy(flat, labels.reshape(-1), ignore_index=-100)
        return Seq2SeqLMOutput(loss=loss, logits=logits)

    def shift_right(self, labels):
        """Decoder inputs: the start token, then the labels but the last (-100 read as padding)."""
        start = labels.new_full((labels.shape[0], 1), self.config.bos_token_id)
        shifted = torch.cat([start, labels[:, :-1]], dim=1)
        return shifted.masked_fill(shifted == -100, self.config.pad_token_id)

    # The decoding protocol.

    def prefill(self, input_ids, attention_mask, beams: int = 1):
        state = self._encode(input_ids, attention_mask)
        if beams > 1:
            rows = torch.arange(input_ids.shape[0], device=input_ids.device).repeat_interleave(beams)
            state = self.reorder(state, rows)
            state.memory, state.keys, state.mask = (t.index_select(0, rows)
                                                    for t in (state.memory, state.keys, state.mask))
        start = torch.full((state.memory.shape[0],), self.config.bos_token_id, dtype=torch.long,
                           device=input_ids.device)
        return self.step(start, state)

    def step(self, tokens, state: LSTMState):
        logits, state = self._decode(tokens[:, None], state)
        return logits[:, -1], state

    def reorder(self, state: LSTMState, indices) -> LSTMState:
        # Beams move within their source, so the source's memory, keys and mask stay put.
        h, c = state.hidden
        hidden = (h.index_select(1, indices), c.index_select(1, indices))
        return LSTMState(hidden, state.feed.index_select(0, indices), state.memory, state.keys, state.mask)

    # Internals.

    def _encode(self, input_ids, attention_mask) -> LSTMState:
        memory, hidden = self.encoder(input_ids, attention_mask)
        feed = memory.new_zeros(memory.shape[0], self.config.hidden_size)
        # The decoder starts from the encoder's final states, layer by layer (Luong et al.).
        return LSTMState(hidden, feed, memory, self.attention_in(memory), attention_mask.bool())

    def _decode(self, decoder_input_ids, state: LSTMState):
        """Logits [N, T, V] for T decoder inputs per row, and the state after them."""
        embedded = self.dropout(self.target_embeddings(decoder_input_ids))
        if not self.config.input_feeding:
            # Without input feeding the LSTM does not wait for attention: one call for all steps.
            outputs, hidden = self.decoder(embedded, state.hidden)
            attentional = self._attend(outputs, state)
            feed = attentional[:, -1]
        else:
            hidden, feed, steps = state.hidden, state.feed, []
            for t in range(embedded.shape[1]):
                output, hidden = self.decoder(torch.cat([embedded[:, t], feed], -1)[:, None], hidden)
                feed = self._attend(output, state)[:, 0]
                steps.append(feed)
            attentional = torch.stack(steps, 1)
        new_state = LSTMState(hidden, feed, state.memory, state.keys, state.mask)
        return self.generator(self.dropout(attentional)), new_state

    def _attend(self, queries, state: LSTMState):
        """Attentional vectors tanh(W_c [context; h_t]) for queries [N, T, H]."""
        scores = torch.bmm(queries, state.keys.transpose(1, 2))  # [N, T, S]
        scores = scores.masked_fill(~state.mask[:, None, :], -float("inf"))
        context = torch.bmm(torch.softmax(scores, dim=-1), state.memory)
        return torch.tanh(self.attention_out(torch.cat([context, queries], dim=-1)))

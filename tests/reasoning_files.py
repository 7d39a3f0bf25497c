"""A tiny GSM8K folder and a tiny random causal LM (Llama, byte-level BPE) for the reasoning tests."""

from __future__ import annotations

import json
from pathlib import Path

# Question, rationale with calculator annotations, final answer: GSM8K's own format.
PROBLEMS = [
    ("Tom has 3 apples and buys 4 more. How many apples does he have?",
     "Tom has 3+4 = <<3+4=7>>7 apples.\n#### 7"),
    ("A box holds 6 eggs. How many eggs are in 5 boxes?", "5 boxes hold 5*6 = <<5*6=30>>30 eggs.\n#### 30"),
    ("Ann reads 12 pages a day for 3 days. How many pages does she read?",
     "She reads 12*3 = <<12*3=36>>36 pages.\n#### 36"),
    ("A shirt costs $20 and is half off. What does it cost?", "It costs 20/2 = <<20/2=10>>10 dollars.\n#### 10"),
    ("Sam had 50 marbles and lost 8. How many are left?", "Sam has 50-8 = <<50-8=42>>42 marbles.\n#### 42"),
    ("A farm has 1,200 hens and sells 200. How many remain?", "1200-200 = <<1200-200=1000>>1000 hens remain.\n#### 1,000"),
]


def write_tiny_gsm8k(root: Path, repeat: int = 2) -> Path:
    """DIR/gsm8k/{train,test}.jsonl with the PROBLEMS (train repeats them `repeat` times)."""
    folder = root / "gsm8k"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [json.dumps({"question": q, "answer": a}) + "\n" for q, a in PROBLEMS]
    (folder / "train.jsonl").write_text("".join(rows) * repeat, encoding="utf-8")
    (folder / "test.jsonl").write_text("".join(rows[:4]), encoding="utf-8")
    return root


def write_tiny_causal_lm(directory: Path) -> Path:
    """A 2-layer Llama (hidden 32) and a byte-level BPE tokenizer learned from the PROBLEMS."""
    import tokenizers
    import torch
    import transformers

    directory.mkdir(parents=True, exist_ok=True)
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token=None))
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"],
                                             initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    text = [f"Question: {q}\nAnswer: {a}" for q, a in PROBLEMS]
    bpe.train_from_iterator(text, trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>",
                                                     eos_token="</s>")
    tokenizer.save_pretrained(str(directory))
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(str(directory))
    return directory


def write_tiny_seq2seq_lm(directory: Path, tokenizer_from: Path) -> Path:
    """A 2-layer BART (d_model 32) with the tiny causal LM's tokenizer: the T5-like student shape."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tokenizer_from))
    tokenizer.save_pretrained(str(directory))
    config = transformers.BartConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id, forced_eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    transformers.BartForConditionalGeneration(config).save_pretrained(str(directory))
    return directory

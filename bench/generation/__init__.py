"""Generation: one decoding loop (greedy and beam search) over a small model protocol, the
adapters that put transformers models and the LSTM encoder-decoder behind it, subword
tokenizers trained per cell, and the generation measurements (time to first token, decode
tokens/s, FLOPs per generated token).

Nothing here is imported by the registries: `bench list` stays import-light, and the modules
import torch and transformers only when a cell generates.
"""

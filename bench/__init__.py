"""bench: a benchmark harness and reproducibility suite for efficient NLP."""

__version__ = "0.1.0"

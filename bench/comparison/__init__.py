"""The pieces of `bench compare` (bench/compare.py): the bootstrap interval of a latency ratio,
the machine fingerprint of a record, and the latency verdict of one cell built from both."""

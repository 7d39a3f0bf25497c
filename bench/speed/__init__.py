"""Speed benchmarks of the harness against the tools a user would pick instead, side by side.

Shared machines are noisy, so only ratios measured in one run, on one machine, with the same
data, model and batch count: every path trains in a fresh process of its own (no state leaks
from one path to the next), the paths alternate, and each is repeated. `bench speed train`
writes the samples, the machine and the ratios to results/speed/.
"""

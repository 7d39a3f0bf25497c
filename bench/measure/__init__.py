"""Measurement: parameters, FLOPs, latency, memory, size, threads and hardware.

Each function returns plain data (frozen dataclasses with raw samples and
units, or dicts), so the runner never times anything by hand and reports read
only stored records (DESIGN principle 6). Modules import torch lazily so that
importing this package stays instant.
"""

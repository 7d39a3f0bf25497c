"""The machine fingerprint of a record, read from the provenance every record already holds.

Latency measured on two machines is not comparable as it stands: a CPU model, a missing
VNNI/AMX flag, fewer usable cores or another torch thread count each move it by more than the
10% a regression check looks for. The fingerprint is those fields (bench/provenance.py records
them in every record's envelope) plus the library versions, which are reported but kept apart:
a new torch or ONNX Runtime is exactly what a regression check is run to judge, so a library
change must not be what stops the latency comparison.

A field a record lacks (older records, hand-written ones) is unknown, not different: only fields
both records state are compared.
"""

from __future__ import annotations

from bench.storage.record import Record

LIBRARIES = ("torch", "transformers", "onnxruntime")


def _cpu_flags(provenance: dict) -> dict | None:
    return (provenance.get("cpu") or {}).get("flags")


def machine_fields(record: Record) -> dict[str, object]:
    """{what: value} of the hardware and thread settings that decide latency, where recorded."""
    provenance = record.provenance
    cpu, threads = provenance.get("cpu") or {}, provenance.get("threads") or {}
    fields = {"CPU model": cpu.get("model"), "usable cores": cpu.get("usable_cores"),
              "torch threads": threads.get("torch_num_threads"),
              "ONNX Runtime intra-op threads": threads.get("onnxruntime_intra_op")}
    fields = {name: value for name, value in fields.items() if value is not None}
    if "gpu" in provenance:  # None there means "no GPU", which is a fact, not an unknown
        fields["GPU"] = (provenance["gpu"] or {}).get("name") or "none"
    return fields


def library_fields(record: Record) -> dict[str, str]:
    packages = record.provenance.get("packages") or {}
    return {name: packages[name] for name in LIBRARIES if packages.get(name)}


def _flag_difference(base: Record, new: Record) -> str | None:
    """'CPU flags differ: amx_int8 only in BASE' over the flags both records list."""
    a, b = _cpu_flags(base.provenance) or {}, _cpu_flags(new.provenance) or {}
    common = [flag for flag in a if flag in b and bool(a[flag]) != bool(b[flag])]
    if not common:
        return None
    sides = [f"{flag} only in {'BASE' if a[flag] else 'NEW'}" for flag in common]
    return "CPU flags differ: " + ", ".join(sides)


def _field_differences(a: dict, b: dict) -> list[str]:
    return [f"{name} differs: {a[name]} vs {b[name]}" for name in a if name in b and a[name] != b[name]]


def machine_differences(base: Record, new: Record) -> list[str]:
    """What differs between the machines (and thread settings) of two records; [] when nothing
    both state differs."""
    flags = _flag_difference(base, new)
    return _field_differences(machine_fields(base), machine_fields(new)) + ([flags] if flags else [])


def library_differences(base: Record, new: Record) -> list[str]:
    """'torch 2.13.0 vs 2.14.0' for each library whose version differs."""
    a, b = library_fields(base), library_fields(new)
    return [f"{name} {a[name]} vs {b[name]}" for name in a if name in b and a[name] != b[name]]

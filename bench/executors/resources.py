"""What a cell asks a cluster for: CPUs, a share of a GPU, memory where similar records know it.

CPUs are the cell's torch threads (`measure.threads`; one when unset: a cell that asked for
nothing gets one core's share, and Ray sets OMP_NUM_THREADS to it). A cuda cell asks for
1/`cells_per_gpu` of a GPU, so small cells can share one, unless it times latency: a latency
figure must come from a cell that had its GPU alone (another cell's kernels would queue on the
same device), so such a cell asks for a whole GPU (the latency-exclusive placement), and only
cells with `latency: off` are packed. Memory is the largest peak RSS of
the finished records of the same task, model and chain: a scheduler then places no more of
them on a node than fit; without such a record the cell reserves none.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resources:
    cpus: int
    gpus: float
    memory: int | None  # bytes

    def ray_options(self) -> dict:
        """The options of a Ray task that asks for these resources."""
        options = {"num_cpus": self.cpus, "num_gpus": self.gpus}
        if self.memory:
            options["memory"] = self.memory
        return options

    def describe(self) -> str:
        """'1 CPU', '2 CPUs, 1/8 GPU, 1.2 GiB': what `--dry-run` prints."""
        parts = [f"{self.cpus} CPU" + ("s" if self.cpus != 1 else "")]
        if self.gpus:
            parts.append("1 GPU" if self.gpus == 1 else f"1/{round(1 / self.gpus)} GPU")
        if self.memory:
            parts.append(f"{self.memory / 2**30:.1f} GiB")
        return ", ".join(parts)


def gpu_share(cell, cells_per_gpu: int) -> float:
    """The fraction of a GPU a cell asks for: none on CPU, all of one when it times latency."""
    if cell.device != "cuda":
        return 0
    return 1 if cell.measure.latency != "off" else 1 / cells_per_gpu


def cell_resources(cells: list, records_dir, cells_per_gpu: int = 1) -> list[Resources]:
    """The resources of each cell (records_dir: where similar finished records tell the memory)."""
    from bench.executors.planning import similar_records

    peaks = similar_records(cells, records_dir, lambda record: record["memory"]["process_peak_rss_bytes"],
                            same_chain_only=True)
    return [Resources(cpus=cell.measure.threads or 1, gpus=gpu_share(cell, cells_per_gpu),
                      memory=int(max(peak[0])) if peak else None)
            for cell, peak in zip(cells, peaks, strict=True)]

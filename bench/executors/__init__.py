"""Executors run the cells of a matrix: `local` one process per cell on this machine, `ray` one Ray
task per cell on a cluster (its cell in its own process too); both plan in planning.py."""

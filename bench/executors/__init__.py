"""Executors run the cells of a matrix; `local` runs one process per cell on this machine."""

"""Task families: one module per task family; each registers its tasks on import."""

"""Model aliases: one module per family; each registers its aliases on import."""

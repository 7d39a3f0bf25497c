"""One module per table; each registers a builder that reads stored records only."""

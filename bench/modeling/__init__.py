"""Model loading: where weights come from (alias, package, local directory, hub, config),
the task heads, and the named parts of a transformer that methods select."""

"""One module per method (or small family of methods); each registers itself on import."""

"""Where results live: records (one JSON file per cell, read through `Record`), cell locks,
content fingerprints of the files a cell reads, and the verified cache of trained weights,
teacher outputs and tokenizers."""

"""Extract, validate, canonicalize and load market data into the unified store."""

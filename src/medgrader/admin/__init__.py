"""Administrator tools: credit adjustments (catalogue administration lives in catalog/)."""

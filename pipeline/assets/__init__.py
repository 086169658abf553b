"""The asset graph, one module per layer: ingest -> split -> models -> evaluation -> publish."""

"""The output dataset: its Arrow schema, shards, rejects, summary and card."""

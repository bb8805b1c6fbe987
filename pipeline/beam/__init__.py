"""The thin Beam layer: stages as DoFns with dead-letter outputs, sources, and the sink."""

"""Text utilities shared by the stages: verbalization, quantities and exact arithmetic."""

"""Evaluation: reports on a built dataset (and, later, on trained models)."""

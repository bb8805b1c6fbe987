"""Spoken-math: build thinking-in-speaking training data from written math problems."""

__version__ = "0.1.0"

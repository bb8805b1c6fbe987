"""Calls to an OpenAI-compatible chat endpoint that must return JSON of a known shape."""

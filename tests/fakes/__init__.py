"""Real servers on 127.0.0.1 that stand in for the services a run calls: an OpenAI-compatible
endpoint, Edge TTS and an Envoy rate-limit service."""

"""Speech engines behind one small interface: ``synthesize(text, voice) -> Speech``."""

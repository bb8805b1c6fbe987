"""A small PyTorch trainer for thinking-in-speaking on the pipeline's shards."""

"""Records the tests share: GSM8K's first training problem, and the same record taken through
the text stages as a stage test needs it."""

from pipeline.config import BuildConfig
from pipeline.sources.records import new_record
from pipeline.stages.interleave import interleave
from pipeline.stages.rewrite import rewrite
from pipeline.stages.split import split

NATALIA = new_record(
    "gsm8k", "train", 0,
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
    "in May. How many clips did Natalia sell altogether in April and May?",
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
    "72",
)


def interleaved(record: dict, config: BuildConfig) -> dict:
    """``record`` after stages 1 to 3 with ``config``: what the speech stage takes."""
    return interleave(split(rewrite(record, config), config), config.tokenizer, config.p, config.q,
                      config.decode_rate)

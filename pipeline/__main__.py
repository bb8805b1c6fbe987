import logging
import sys

logging.basicConfig(level=logging.ERROR)  # Beam logs optional-dependency noise at import

from pipeline.flags import resolve  # noqa: E402

if __name__ == "__main__":  # not when a spawned child imports it
    settings = resolve(sys.argv[1:])  # a mistake is told before the stages and Beam's runners load
    from pipeline.cli import build_dataset

    build_dataset(*settings)

import logging

logging.basicConfig(level=logging.ERROR)  # Beam logs optional-dependency noise at import

from pipeline.cli import main  # noqa: E402

if __name__ == "__main__":  # not when a spawned child imports it
    main()

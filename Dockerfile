# Custom SDK worker image for Dataflow and Flink: the official Beam Python 3.11 SDK image of
# the pinned Beam version, with this package and its TTS engine installed. espeak-ng comes as
# a wheel (espeakng-loader), so no system package is needed.
#   make image IMAGE=REGION-docker.pkg.dev/PROJECT/REPO/spoken-math:TAG
FROM apache/beam_python3.11_sdk:2.77.0

WORKDIR /opt/spoken-math
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY prompts ./prompts
COPY schemas ./schemas
COPY training ./training
COPY eval ./eval
RUN pip install --no-cache-dir . \
    && python -c "import prompts, schemas; prompts.load('split'); schemas.validator('record')" \
    && python -c "from pipeline.tts.espeak import EspeakEngine, Voice; \
assert EspeakEngine().synthesize('Ready.', Voice('en-us')).size > 0"

ENTRYPOINT ["/opt/apache/beam/boot"]

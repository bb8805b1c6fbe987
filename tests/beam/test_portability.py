"""The same pipeline on other runners gives the same shards, byte for byte.

Beam's own worker-side gRPC servers listen on all interfaces; everything here talks to
them over loopback only.
"""

from pathlib import Path

import pytest
from apache_beam.runners.portability import local_job_service

from pipeline.cli import run

SOURCE = ["--source", "generate:16", "--num_shards", "2"]


def shard_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    run([*SOURCE, "--output", str(folder)])
    return shard_bytes(folder)


@pytest.fixture
def job_endpoint():
    service = local_job_service.LocalJobServicer()
    port = service.start_grpc_server(0)
    yield f"localhost:{port}"
    service.stop()


def test_direct_runner_with_two_worker_processes(reference, tmp_path):
    summary = run([*SOURCE, "--output", str(tmp_path), "--runner=DirectRunner",
                   "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert summary["outputs"] == 16
    assert shard_bytes(tmp_path) == reference


def test_portable_runner_with_a_loopback_worker(reference, tmp_path, job_endpoint):
    summary = run([*SOURCE, "--output", str(tmp_path), "--runner=PortableRunner",
                   f"--job_endpoint={job_endpoint}", "--environment_type=LOOPBACK"])
    assert summary["outputs"] == 16
    assert shard_bytes(tmp_path) == reference

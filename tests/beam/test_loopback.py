"""A run serves nothing to the network: every socket it listens on, in every process of
the run, is on the loopback interface (a default run and a run with two worker processes)."""

import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.beam.loopback import loopback_address


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net/tcp{,6} writes it: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words)


def _processes(root: int) -> set[int]:
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parents[int(name)] = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    tree, grown = {root}, True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree, grown = tree | children, bool(children)
    return tree


def _listening(pids: set[int]) -> set[tuple[str, int]]:
    sockets = set()
    for pid in pids:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        sockets |= {link[8:-1] for link in links if link.startswith("socket:[")}
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in sockets:  # 0A: LISTEN
                host, port = fields[1].split(":")
                found.add((str(_address(host)), int(port, 16)))
    return found


def _is_loopback(host: str) -> bool:
    address = ipaddress.ip_address(host)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="reads Linux's /proc")
@pytest.mark.parametrize("workers", [[], ["--direct_running_mode=multi_processing",
                                          "--direct_num_workers=2"]])
def test_a_run_listens_on_loopback_only(tmp_path, workers):
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "--source", "generate:80", "--output",
                                str(tmp_path / "out"), "--no_progress", *workers],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen = set()
    while process.poll() is None:
        seen |= _listening(_processes(process.pid))
        time.sleep(0.1)
    assert process.returncode == 0
    assert seen, "the run was watched while it served its workers"
    assert [address for address in seen if not _is_loopback(address[0])] == []


def test_every_interface_becomes_loopback():
    assert loopback_address("[::]:0") == "localhost:0"
    assert loopback_address("0.0.0.0:8099") == "localhost:8099"
    assert loopback_address("10.0.0.5:8099") == "10.0.0.5:8099"

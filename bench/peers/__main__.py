"""Smoke check of the benchmark's servers, one at a time: start it, send a few requests to each endpoint, check the
top label of the MNIST test digit (7), stop it. No load.

    python -m bench.peers [NAME_PART ...]    # only the servers whose name contains one of these
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench.peers.harness import PeerError, Running, check_answers, versions
from bench.peers.servers import SERVERS
from bench.run import digit_body, v2_body


def main() -> None:
    parts = [p.lower() for p in sys.argv[1:]]
    tmp = Path(tempfile.mkdtemp())
    digit = digit_body(tmp)
    bodies = {"typed": digit, "v2": v2_body(tmp, digit)}
    failures = 0
    for i, server in enumerate(SERVERS):
        if parts and not any(p in server.name.lower() for p in parts):
            continue
        t0 = time.monotonic()
        try:
            running = Running(server, tmp / f"server-{i}.log")
        except PeerError as e:
            print(f"FAILED {server.name}: {e}", flush=True)
            failures += 1
            continue
        try:
            check_answers(running, bodies)
            kinds = ", ".join(running.server.endpoints)
            print(f"ok     {server.name} ({kinds}; ready in {time.monotonic() - t0:.0f} s) {versions(server)}")
        except PeerError as e:
            print(f"FAILED {server.name}: {e}", flush=True)
            failures += 1
        finally:
            running.stop()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

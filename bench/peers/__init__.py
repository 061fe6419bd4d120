"""dlserve's peers in the side-by-side benchmark: each peer's app (bench/peers/<peer>/app.py) and pinned
requirements (bench/peers/<peer>/requirements.txt, installed into bench/.venv/<peer> by `make bench-envs`), the
server definitions (servers.py), the harness that starts, checks, pauses and measures them (harness.py) and the
ratio tables (report.py). `python -m bench.run` runs the benchmark; `python -m bench.peers` only checks that each
server starts and answers right (README.md)."""

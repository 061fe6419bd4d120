"""Start, check, pause and measure the benchmark's servers (bench/peers/servers.py) with `hey` as the load.

Each server runs as its own process tree (its venv's interpreter, cwd the repository, PYTHONPATH the repository,
so the peers import this checkout's preprocessing). Between its own load runs a server's whole tree is stopped
(SIGSTOP), so an idle server's background work (Ray's GCS and raylet, metrics loops) takes no CPU from the one
being measured. CPU time is summed over the tree (user + system, with its reaped children) before and after each
load run and divided by the requests completed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import httpx
import psutil

from bench.peers.load import free_port, hey
from bench.peers.servers import Server

REPO = Path(__file__).resolve().parents[2]
VENVS = REPO / "bench" / ".venv"
EXPECTED_LABEL = "7"  # the first MNIST test digit
PACKAGES = ("fastapi", "starlette", "uvicorn", "uvloop", "pydantic", "numpy", "onnxruntime", "pillow", "litserve",
            "bentoml", "ray", "kserve", "mlserver", "nvidia-pytriton", "tritonclient")  # fmt: skip


class PeerError(RuntimeError):
    """A server that cannot install, start or answer: its message is what the tables show."""


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(procs: list[psutil.Process]) -> float:
    """user + system over the processes, each with the children it reaped (counted once: a live child's time is in
    no parent's children_* fields)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def cpu_ms_per_request(before: float, after: float, completed: int) -> float:
    return (after - before) * 1000 / completed if completed else float("nan")


def interpreter(server: Server) -> Path:
    return Path(sys.executable) if server.venv is None else VENVS / server.venv / "bin" / "python"


def install_error(server: Server) -> str | None:
    """Why the server's venv is not there (pip's ERROR lines, from make bench-envs), or None when it is."""
    if server.venv is None or (VENVS / server.venv / "installed.txt").exists():
        return None
    log = VENVS / server.venv / "install-error.txt"
    if not log.exists():
        return f"not installed: no {VENVS.relative_to(REPO)}/{server.venv} (run `make bench-envs`)"
    lines = log.read_text().splitlines()
    return "install failed: " + " ".join(x for x in lines if x.startswith("ERROR")) or lines[-1]


def versions(server: Server) -> dict[str, str]:
    if server.venv is None:
        found = {}
        for name in PACKAGES:
            with contextlib.suppress(metadata.PackageNotFoundError):
                found[name] = metadata.version(name)
        return found
    freeze = (VENVS / server.venv / "installed.txt").read_text().splitlines()
    pins = dict(line.lower().split("==", 1) for line in freeze if "==" in line)
    return {name: pins[name] for name in PACKAGES if name in pins}


class Running:
    """One started server: its process tree, ports, log; pause/resume and CPU time over the tree."""

    def __init__(self, server: Server, log: Path, startup_s: float = 300) -> None:
        if (error := install_error(server)) is not None:
            raise PeerError(error)
        self.server, self.log, self.port, self.pausing = server, log, free_port(), True
        fill = {"python": str(interpreter(server)), "bin": str(interpreter(server).parent), "port": str(self.port),
                "port2": str(free_port()), "port3": str(free_port())}  # fmt: skip
        cmd = [part.format(**fill) for part in server.command]
        root = server.root or REPO
        env = {**os.environ, "PYTHONPATH": str(root), **{k: v.format(**fill) for k, v in server.env.items()}}
        with log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # fmt: skip
        self.wait_ready(startup_s)

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.port}{self.server.endpoints[kind]}"

    def tail(self, n: int = 5) -> str:
        lines = [x.strip() for x in self.log.read_text(errors="replace").splitlines() if x.strip()]
        return " / ".join(lines[-n:])

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (code := self.proc.poll()) is not None:
                raise PeerError(f"exited with status {code} before it was ready: {self.tail()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}{self.server.ready}", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise PeerError(f"not ready after {timeout:.0f} s: {self.tail()}")

    def cpu(self) -> float:
        return cpu_seconds(tree(self.proc.pid))

    def pause(self) -> None:
        if not self.pausing:
            return
        for p in tree(self.proc.pid):
            with contextlib.suppress(psutil.NoSuchProcess):
                p.suspend()

    def resume(self) -> None:
        for p in tree(self.proc.pid):
            with contextlib.suppress(psutil.NoSuchProcess):
                p.resume()

    def stop(self) -> None:
        """SIGTERM to the process group, then SIGKILL to whatever of the tree is left after 30 s."""
        procs = tree(self.proc.pid)[1:]
        self.resume()  # a stopped process would not act on SIGTERM
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        _, alive = psutil.wait_procs(procs, timeout=30)  # children shut down after their parent (Triton, Ray)
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()


def top_label(kind: str, doc: object) -> str:
    """The best label of the first image in a typed answer, or the argmax of a v2 answer's logits."""
    if kind == "v2":
        out = next(o for o in doc["outputs"] if o["name"] == "logits")
        data = out["data"]
        return str(max(range(len(data)), key=data.__getitem__))
    results = doc["results"] if isinstance(doc, dict) else doc  # BentoML answers the list of results itself
    return results[0]["predictions"][0]["label"]


def answer(running: Running, kind: str, body: Path) -> None:
    """One request to the `kind` endpoint: 200 and the expected top label, or PeerError saying what came back."""
    r = httpx.post(running.url(kind), content=body.read_bytes(), headers={"content-type": "application/json"},
                   timeout=60)  # fmt: skip
    if r.status_code != 200:
        raise PeerError(f"{kind}: HTTP {r.status_code}: {r.text[:300]}")
    try:
        label = top_label(kind, json.loads(r.text))
    except (ValueError, KeyError, IndexError, TypeError, StopIteration) as e:
        raise PeerError(f"{kind}: unreadable answer ({type(e).__name__}: {e}): {r.text[:300]}") from None
    if label != EXPECTED_LABEL:
        raise PeerError(f"{kind}: top label {label!r}, expected {EXPECTED_LABEL!r}: {r.text[:300]}")


def check_answers(running: Running, bodies: dict[str, Path], times: int = 3, settle_s: float = 30) -> None:
    """Each endpoint answers right `times` times in a row within `settle_s`: a server of several workers may
    report ready from one worker while another is still loading (dlserve with 2 workers then answered from its
    only loaded classifier, alexnet-cifar10, for a second or so)."""
    for kind in running.server.endpoints:
        deadline, good = time.monotonic() + settle_s, 0
        while good < times:
            try:
                answer(running, kind, bodies[kind])
                good += 1
            except (PeerError, httpx.HTTPError) as e:
                if time.monotonic() > deadline:
                    raise PeerError(f"{type(e).__name__}: {e}" if isinstance(e, httpx.HTTPError) else str(e)) from None
                good = 0
                time.sleep(0.5)


def start_all(servers: list[Server], bodies: dict[str, Path], logs: Path, pause: bool = True):
    """Start each server in turn, check its answers, then pause it: (name -> Running, name -> error)."""
    running: dict[str, Running] = {}
    failed: dict[str, str] = {}
    for i, server in enumerate(servers):
        try:
            r = Running(server, logs / f"server-{i}.log")
        except PeerError as e:
            failed[server.name] = str(e)
            continue
        try:
            check_answers(r, bodies)
        except PeerError as e:
            r.stop()
            failed[server.name] = str(e)
            continue
        r.pausing = pause
        r.pause()
        running[server.name] = r
    return running, failed


def rotation(names: list[str], r: int) -> list[str]:
    """Round r's order: each round starts with the next server."""
    k = r % len(names) if names else 0
    return names[k:] + names[:k]


def median_round(rounds: list[dict]) -> dict:
    """The round with the median throughput, with every round's figures beside it."""
    median = dict(sorted(rounds, key=lambda r: r["rps"])[len(rounds) // 2])
    median["rps_rounds"] = [r["rps"] for r in rounds]
    median["rounds"] = [{k: v for k, v in r.items() if k != "rounds"} for r in rounds]
    return median


def interleaved(names: list[str], concurrencies, rounds: int, run_one: Callable[[str, int], dict]) -> dict:
    """name -> one row per concurrency: the median-throughput round of `rounds`, interleaved across servers."""
    runs: dict[str, dict[int, list[dict]]] = {name: {c: [] for c in concurrencies} for name in names}
    for r in range(rounds):
        # On this machine the server measured first in a pair ran about 4% faster than the same code measured
        # second, so no server may always hold one place in the order.
        for c in concurrencies:
            for name in rotation(names, r):
                runs[name][c].append(run_one(name, c))
    return {name: [median_round(rs) for rs in per_c.values()] for name, per_c in runs.items()}


def kind_urls(running: dict[str, Running], kind: str) -> dict[str, str]:
    """name -> URL of every running server with a `kind` endpoint."""
    return {name: r.url(kind) for name, r in running.items() if kind in r.server.endpoints}


def measure(running: dict[str, Running], urls: dict[str, str], body: Path, concurrencies, seconds: float,
            rounds: int, load: Callable[[str, Path, int, float], dict] = hey) -> dict:  # fmt: skip
    """The servers of `urls` (name -> URL), warmed up, then interleaved; each row with its CPU ms per request. Only
    the server under load runs: the others stay paused."""

    def run_one(name: str, c: int) -> dict:
        server = running[name]
        server.resume()
        try:
            before = server.cpu()
            row = load(urls[name], body, c, seconds)
            row["cpu_ms_per_request"] = cpu_ms_per_request(before, server.cpu(), row["completed"])
        finally:
            server.pause()
        return row

    for name, url in urls.items():  # warm-up
        running[name].resume()
        try:
            load(url, body, 8, 1)
        finally:
            running[name].pause()
    return interleaved(list(urls), concurrencies, rounds, run_one)

"""A private Docker engine for the container tests, and a stand-in `python:3.11-slim` base image.

`start_engine` runs its own `dockerd` with everything under one new temp dir: data-root (on a tmpfs where the
host allows it), exec-root, API socket, pidfile, daemon config, client config, log. Containers attach to a bridge
made for this engine alone, and the engine touches no iptables rules and no sysctl (`--iptables=false
--ip-forward=false`): published ports go through Docker's userland proxy, and builds use the host network to
reach the package index. `stop_engine` removes the containers, stops dockerd (and the containerd it started),
unmounts what is left, deletes the bridge and the temp dir.

Image registries are unreachable here, so `standin_rootfs` builds the base with debootstrap: Debian
bookworm (whose python3 is 3.11, like the official image) with python3, venv, pip and CA certificates, imported
with `docker import`. The root filesystem tarball is cached between runs (see `cache_dir`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
STANDIN_PACKAGES = ("python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates")
STANDIN_TAG = "dlserve-test/python:3.11-slim"
CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


class EngineError(RuntimeError):
    """The Docker engine or one of its tools could not be started or did not do what was asked."""


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:{SYSTEM_PATH}")
    if not found:
        raise EngineError(f"{name} not found: run `make system-deps` (apt-get install -y docker.io debootstrap)")
    return found


def docker_client() -> str:
    """The client that ships with the engine (docker.io's /usr/bin/docker): it speaks BuildKit to this dockerd
    without the buildx plugin, which a newer client elsewhere on PATH would insist on."""
    dockerd = Path(_tool("dockerd")).resolve()
    for candidate in (dockerd.parent.parent / "bin" / "docker", dockerd.parent / "docker"):
        if candidate.is_file():
            return str(candidate)
    return _tool("docker")


def ca_bundle() -> Path | None:
    """The host's CA bundle, handed to pip inside builds (as a build secret) where an index needs it."""
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"), *CA_BUNDLES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@dataclass
class Engine:
    root: Path
    socket: Path
    process: subprocess.Popen
    bridge: str
    log: Path
    client: str

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{os.environ.get('PATH', '')}:{SYSTEM_PATH}",
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(self.root / "client"),
            "DOCKER_BUILDKIT": "1",
        }

    def docker(
        self, *args: str | Path, timeout: float = 120, check: bool = True, input: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker client against this engine; on failure (with `check`) raise with its output."""
        cmd = [self.client, *map(str, args)]
        result = subprocess.run(cmd, env=self.env(), capture_output=True, timeout=timeout, check=False, input=input)
        out = subprocess.CompletedProcess(
            cmd, result.returncode, result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
        )
        if check and out.returncode != 0:
            command = " ".join(map(str, args))
            raise EngineError(f"`docker {command}` exited {out.returncode}:\n{out.stdout[-4000:]}{out.stderr[-4000:]}")
        return out

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no dockerd log)"
        return "\n".join(text.splitlines()[-lines:])


def _bridge_subnet() -> str:
    """A 10.213.x.0/24 that no interface or route on this host uses yet."""
    used = (
        subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=False).stdout
        + subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=False).stdout
    )
    start = os.getpid() % 250
    for offset in range(250):
        third = (start + offset) % 250 + 1
        if f"10.213.{third}." not in used:
            return f"10.213.{third}.1/24"
    raise EngineError("no free 10.213.x.0/24 subnet for the test bridge")


def _make_bridge(name: str) -> None:
    ip = _tool("ip")
    subprocess.run([ip, "link", "delete", name], capture_output=True, check=False)  # a leftover of a killed run
    for args in (["link", "add", name, "type", "bridge"], ["addr", "add", _bridge_subnet(), "dev", name],
                 ["link", "set", name, "up"]):  # fmt: skip
        result = subprocess.run([ip, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise EngineError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")


def _memory_backed(folder: Path, size: str = "8g") -> None:
    """Put the engine's images on a tmpfs where the host allows it: deleting a few GB of layer files from disk
    takes minutes here (ext4 discards every freed block), unmounting a tmpfs takes nothing. Else plain disk."""
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0710", "tmpfs", str(folder)],
                   capture_output=True, check=False)  # fmt: skip


def start_engine(timeout: float = 90) -> Engine:
    """Start a private dockerd; raise EngineError with the tail of its log if it does not answer in time."""
    if os.geteuid() != 0:
        raise EngineError("the container tests start their own Docker engine and must run as root")
    dockerd, client = _tool("dockerd"), docker_client()
    root = Path(tempfile.mkdtemp(prefix="dlserve-ct-"))  # short: containerd's socket path must fit 108 bytes
    (root / "client").mkdir()
    _memory_backed(root / "data")
    (root / "daemon.json").write_text("{}\n")  # not /etc/docker/daemon.json
    bridge = f"dlsct{root.name[-6:]}".replace("_", "x")[:15]
    log = root / "dockerd.log"
    socket = root / "docker.sock"
    try:
        _make_bridge(bridge)
    except EngineError:
        remove_tree(root)
        raise
    cmd = [
        dockerd, "--config-file", str(root / "daemon.json"), "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"), "--pidfile", str(root / "docker.pid"), "-H", f"unix://{socket}",
        "--bridge", bridge, "--iptables=false", "--ip-forward=false", "--ip-masq=false", "--log-level", "warn",
        # Where a system containerd runs, dockerd uses it: keep this engine's containers apart from a system docker's.
        "--containerd-namespace", "dlserve-test", "--containerd-plugins-namespace", "dlserve-test-plugins",
    ]  # fmt: skip
    env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:{SYSTEM_PATH}"}
    process = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    engine = Engine(root, socket, process, bridge, log, client)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = engine.log_tail()
            stop_engine(engine)
            raise EngineError(f"the Docker engine did not start: dockerd exited {process.returncode}:\n{tail}")
        if socket.exists() and engine.docker("version", check=False, timeout=10).returncode == 0:
            return engine
        time.sleep(0.5)
    tail = engine.log_tail()
    stop_engine(engine)
    raise EngineError(f"the Docker engine did not answer within {timeout:.0f}s; dockerd log tail:\n{tail}")


def _pids_using(root: Path) -> list[int]:
    """Processes whose command line names the engine's dir (dockerd, its containerd and shims)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if str(root).encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
    return pids


def _mounts_under(root: Path) -> list[str]:
    points = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point == str(root) or point.startswith(f"{root}/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)  # deepest first


def remove_tree(path: Path) -> None:
    """Unmount whatever is mounted below `path` (a tmpfs, overlays, or the /proc, /sys or /dev that a failed
    debootstrap may leave mounted in its root), then delete it: never a deletion through a mount point."""
    for point in _mounts_under(path):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    if _mounts_under(path):
        raise EngineError(f"could not unmount everything under {path}; not deleting it: {_mounts_under(path)}")
    shutil.rmtree(path, ignore_errors=True)


def stop_engine(engine: Engine) -> None:
    """Remove every container, stop dockerd and what it started, delete the bridge and the engine's dir."""
    if engine.process.poll() is None:
        with contextlib.suppress(Exception):
            ids = engine.docker("ps", "-aq", check=False, timeout=30).stdout.split()
            if ids:
                engine.docker("rm", "-f", *ids, check=False, timeout=60)
        engine.process.send_signal(signal.SIGTERM)
        try:
            engine.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            engine.process.kill()
            engine.process.wait(timeout=10)
    for pid in _pids_using(engine.root):  # a containerd or shim that outlived dockerd
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    subprocess.run([_tool("ip"), "link", "delete", engine.bridge], capture_output=True, check=False)
    remove_tree(engine.root)


# --- the stand-in base image ---------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where the debootstrap tarball is kept between runs: $DLSERVE_TEST_CACHE, else ~/.cache/dlserve-tests."""
    env = os.environ.get("DLSERVE_TEST_CACHE")
    return Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dlserve-tests"


def standin_rootfs(workdir: Path, cache: Path | None = None, timeout: float = 900) -> Path:
    """A tarball of Debian bookworm + Python 3.11 built with debootstrap, reused from `cache` when there."""
    key = hashlib.sha256(f"{DEBIAN_SUITE} {DEBIAN_MIRROR} {' '.join(STANDIN_PACKAGES)}".encode()).hexdigest()[:12]
    name = f"standin-{DEBIAN_SUITE}-{key}.tar"
    if cache is not None and (cache / name).is_file():
        return cache / name
    rootfs = workdir / "rootfs"
    cmd = [_tool("debootstrap"), "--variant=minbase", f"--include={','.join(STANDIN_PACKAGES)}", DEBIAN_SUITE,
           str(rootfs), DEBIAN_MIRROR]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        log = rootfs / "debootstrap" / "debootstrap.log"
        detail = log.read_text(errors="replace")[-3000:] if log.exists() else result.stdout[-3000:]
        raise EngineError(f"debootstrap failed ({result.returncode}):\n{result.stderr[-2000:]}\n{detail}")
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):  # as the official slim images do
        for path in (rootfs / leftover).glob("*"):
            if path.is_file():
                path.unlink()
    tarball = workdir / name
    subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
    remove_tree(rootfs)
    if cache is None:
        return tarball
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f".{name}.{os.getpid()}"
    shutil.move(tarball, partial)
    partial.replace(cache / name)  # atomic: a concurrent run sees the whole file or none
    return cache / name


def import_image(engine: Engine, tarball: Path, tag: str, changes: Sequence[str] = ()) -> None:
    args: list[str] = ["import"]
    for change in ("ENV LANG=C.UTF-8", 'CMD ["python3"]', *changes):
        args += ["--change", change]
    engine.docker(*args, tarball, tag, timeout=300)


def build_image(
    engine: Engine, context: Path, tag: str, target: str, build_args: dict[str, str], timeout: float = 1500
) -> float:
    """`docker build` (BuildKit, host network for the package index) of one target; returns the seconds taken."""
    args: list[str] = ["build", "--network", "host", "--progress", "plain", "--target", target, "-t", tag]
    bundle = ca_bundle()
    if bundle:
        args += ["--secret", f"id=pip_cert,src={bundle}", "--build-arg", "PIP_CERT=/run/secrets/pip_cert"]
    for key, value in build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    started = time.monotonic()
    engine.docker(*args, context, timeout=timeout)
    return time.monotonic() - started

"""pip-audit over the installed environment: a known vulnerability in any dependency fails, unless
.pip-audit-ignore lists its id with the reason. Needs PyPI's per-release JSON API (pip-audit's default service)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tests_support import REPO

IGNORE_FILE = REPO / ".pip-audit-ignore"
# Installed from elsewhere than PyPI, so PyPI has no advisory data for these exact versions.
NOT_ON_PYPI = {"torch"}  # the PyTorch index's CPU build, a local version (2.x.y+cpu)


def ignored() -> set[str]:
    ids = set()
    for line in IGNORE_FILE.read_text().splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            ids.add(entry)
    return ids


def test_no_known_vulnerabilities_in_the_installed_dependencies(tmp_path):
    report = tmp_path / "audit.json"
    cmd = [sys.executable, "-m", "pip_audit", "--local", "--skip-editable", "--progress-spinner", "off",
           "--format", "json", "--output", str(report)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert report.is_file(), done.stderr[-2000:]
    dependencies = json.loads(report.read_text())["dependencies"]
    skipped = {d["name"]: d["skip_reason"] for d in dependencies if "skip_reason" in d and d["name"] != "dlserve"}
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:
        # pip-audit then says "No known vulnerabilities found": not a pass, nothing was looked up.
        pytest.skip(
            f"the vulnerability service answered for none of {len(skipped)} packages: {next(iter(skipped.values()))}"
        )
    assert set(skipped) <= NOT_ON_PYPI, f"not audited: {skipped}"
    findings = {(v["id"], d["name"], d["version"], ", ".join(v["fix_versions"]) or "none")
                for d in audited for v in d["vulns"]}  # fmt: skip
    accepted = ignored()
    assert not {f for f in findings if f[0] not in accepted}, "id, package, version, fixed in: " + str(sorted(findings))
    stale = accepted - {f[0] for f in findings}
    assert not stale, f"remove from {IGNORE_FILE.name}, no finding needs them any more: {sorted(stale)}"

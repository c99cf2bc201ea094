"""generated_client/slotgate_client is exactly what scripts/regen-client makes of openapi.yaml."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "generated_client" / "slotgate_client"


def tree(directory: Path) -> set[str]:
    return {
        str(path.relative_to(directory))
        for path in directory.rglob("*")
        if not {"__pycache__", ".ruff_cache"} & set(path.parts)
    }


def test_committed_client_matches_a_fresh_generation(tmp_path: Path) -> None:
    fresh = tmp_path / "slotgate_client"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "regen-client"), str(fresh)],
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert tree(fresh) == tree(COMMITTED), "files differ: run scripts/regen-client"
    different = [
        name
        for name in sorted(tree(fresh))
        if (fresh / name).is_file() and not filecmp.cmp(fresh / name, COMMITTED / name, shallow=False)
    ]
    assert different == [], f"{different} differ from a fresh generation: run scripts/regen-client"

"""A wheel built from the repository installs nothing generic into site-packages: it lives next
to the OpenAI Agents SDK (import name `agents`) in one clean environment, and both import."""
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def test_wheel_installs_under_the_harness_namespace_beside_openai_agents(tmp_path):
    def run(*cmd, cwd=tmp_path):
        res = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, (cmd, res.stdout[-2000:], res.stderr[-2000:])
        return res.stdout

    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(REPO))
    (wheel,) = (tmp_path / "dist").glob("harness-*.whl")
    run(sys.executable, "-m", "venv", str(tmp_path / "venv"))
    py = str(tmp_path / "venv" / "bin" / "python")
    run(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel), "openai-agents")
    files = run(py, "-m", "pip", "show", "-f", "harness").splitlines()
    top = {line.strip().split("/")[0] for line in files[files.index("Files:") + 1:]}
    assert not top & {"agents", "tasks", "trainers", "leaderboards"}, sorted(top)
    out = run(py, "-c", "import agents, harness.agents.scripted, harness.tasks.webshop, harness.leaderboards; "
                        "from harness import registry; print(agents.Agent.__module__, registry.available('agent'))")
    assert out.startswith("agents") and "noisy_expert" in out  # the SDK's agents, and ours under harness
    assert "leaderboard" in run(str(tmp_path / "venv" / "bin" / "harness"), "--help")

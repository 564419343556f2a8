"""Published result folders are what their regenerate command makes of the kept runs, byte for byte."""
import subprocess
import sys

from conftest import REPO, cli_env


def test_eef_mini_tables_regenerate_byte_for_byte(tmp_path):
    folder = REPO / "results" / "eef-mini"
    res = subprocess.run(["bash", str(folder / "regenerate.sh")], cwd=REPO, capture_output=True, text=True,
                         env=cli_env(OUT=str(tmp_path), HARNESS=f"{sys.executable} -m harness.cli"), timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    made = sorted(p.name for p in tmp_path.iterdir())
    assert {"leaderboard.md", "leaderboard-difficulty.md", "actions.md", "expert-pool.md"} <= set(made)
    for name in made:
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), f"{name} differs from the published one"

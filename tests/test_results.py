"""Published result folders are what their regenerate command makes of the kept runs, byte for byte."""
import shutil
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


def test_keep_refreshes_the_seeds_it_finds_and_leaves_the_other_kept_seeds(tmp_path):
    """KEEP=1 copies each complete seed of EXP into the kept runs (here seed 0's runs again, as seed 1)
    without dropping the kept seeds EXP does not hold; an unfinished seed is not kept; the tables then
    have a row per seed and pooled rows over both."""
    folder = REPO / "results" / "eef-mini"
    runs, exp, out = tmp_path / "runs", tmp_path / "exp", tmp_path / "out"
    shutil.copytree(folder / "runs", runs, symlinks=True)
    for src in sorted((folder / "runs").glob("s0-*")):
        shutil.copytree(src, exp / f"eef-mini-s1-{src.name[3:]}", symlinks=True)
    shutil.copytree(folder / "runs" / "s0-sft", exp / "eef-mini-s2-sft", symlinks=True)  # its methods not run
    out.mkdir()
    res = subprocess.run(["bash", str(folder / "regenerate.sh")], cwd=REPO, capture_output=True, text=True,
                         env=cli_env(OUT=str(out), RUNS=str(runs), KEEP="1", EXP=str(exp),
                                     HARNESS=f"{sys.executable} -m harness.cli"), timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "seed 2: its comparison is not complete yet" in res.stderr
    methods = ["eef", "rft", "rftx6", "sft"]
    assert sorted(p.name for p in runs.iterdir()) == [f"s{s}-{m}" for s in (0, 1) for m in methods]
    assert (runs / "s1-eef" / "iter0" / "eval").resolve() == (runs / "s1-sft" / "iter0" / "eval").resolve()
    per_seed = (out / "leaderboard-per-seed.md").read_text()
    assert "| EEF iter2 s0 " in per_seed and "| EEF iter2 s1 " in per_seed
    pooled = [line for line in (out / "leaderboard.md").read_text().splitlines() if line.startswith("| EEF iter2 ")]
    assert len(pooled) == 1 and "|        200 |" in pooled[0]  # both seeds' 100 episodes in one row

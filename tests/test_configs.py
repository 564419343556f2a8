"""Every shipped config loads (the paper-scale ones with the published split files substituted)."""

import pytest

from conftest import REPO, SHARED
from harness.errors import SpecError
from harness.specs import load_run_spec
from harness.experiment import load_experiment_spec

CONFIGS = REPO / "configs"
SPLITS = SHARED / "data" / "eto-sciworld-splits"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_local_configs_load(path):
    text = path.read_text()
    if "trainer:" in text:
        spec = load_experiment_spec(path)
        assert spec.trainer.name in ("sft", "rft", "eef")
    else:
        load_run_spec(path)


@pytest.mark.parametrize("path", sorted((CONFIGS / "paper").glob("*sciworld*.yaml")), ids=lambda p: p.name)
def test_paper_configs_load_with_split_files(path):
    if not SPLITS.is_dir():
        pytest.skip("shared split files not present")
    with pytest.raises(SpecError, match="split_file"):
        load_experiment_spec(path)  # the user must bring the split files
    spec = load_experiment_spec(path, task=[f"split_file={SPLITS / 'train_indices.json'}",
                                            f"max_steps_file={SPLITS / 'max_steps.json'}"],
                                eval_task=[f"split_file={SPLITS / 'test_indices.json'}"])
    assert spec.trainer.iterations == 3 and spec.trainer.rollout_agent["name"] == "vllm"
    if spec.trainer.name == "eef":
        assert spec.trainer.M == 5


def test_unknown_rollout_agent_option_is_a_spec_error(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text((CONFIGS / "cpu-eef-sciworld.yaml").read_text().replace("max_new_tokens: 32", "max_new_tokenz: 32"))
    with pytest.raises(SpecError, match="max_new_tokenz"):
        load_experiment_spec(p)

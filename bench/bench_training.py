"""Training throughput: our SFT stage vs a plain TRL SFTTrainer on the same data.

Same trajectories, tokens and loss masks (TRL gets our pre-tokenized input_ids/labels, so the
trainable tokens are identical), same model, LoRA settings, batch size and number of steps. Each
trainer runs in its own process so peak memory (ru_maxrss) is its own. Ours groups batches by
length (less padding); TRL's default samples at random. Target: ours >= 1.0x TRL in tokens/s.

Gradient checkpointing trades compute for memory and the two defaults differ (TRL's SFTConfig: on;
ours: off), so both trainers run with it off and with it on: a pair compares like with like.

    python bench/bench_training.py [--quick]      (--quick: the tiny random model, one repetition)
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report  # noqa: E402

OBS = "You see a table, a chair, a stove which is turned off, a pot containing water and a door to the hallway."


def trajectories(n: int, seed: int = 0):
    from harness.trajectory import Message, Trajectory
    rng = random.Random(seed)
    out = []
    for i in range(n):
        msgs = [Message(role="user", content="Your task is to boil water. " * rng.randint(2, 8))]
        for t in range(rng.randint(2, 14)):  # ScienceWorld-like: episodes of very different lengths
            msgs.append(Message(role="assistant", content=f"Thought: step {t}.\nAction: look around", train=True))
            msgs.append(Message(role="user", content="Observation: " + OBS * rng.randint(1, 3)))
        out.append(Trajectory(id=f"t{i}", task="b", subtask_id=f"s{i}", category="c", messages=msgs, prompt_len=1))
    return out


def run_one(which: str, model: str, steps: int, out: Path, checkpointing: bool = False) -> None:
    """In a fresh process: train `steps` optimizer steps with one trainer, write the figures."""
    import torch
    from transformers import AutoTokenizer

    from harness.models import resolve_model
    from harness.trainers.data import encode_all
    from harness.trainers.finetune import LoraOptions, TrainOptions, fine_tune

    trajs = trajectories(64)
    opts = TrainOptions(model=model, lora=LoraOptions(), batch_size=4, max_steps=steps, max_len=1024,
                        save_steps=10_000, lr=1e-4,
                        gradient_checkpointing=checkpointing)
    path = resolve_model(model)
    tok = AutoTokenizer.from_pretrained(path)
    examples, stats = encode_all(trajs, tok, opts.max_len)
    t0 = time.perf_counter()
    if which == "ours":
        with tempfile.TemporaryDirectory() as d:
            res = fine_tune(trajs, opts, Path(d) / "stage")
        seconds, steps_done = res["seconds"], res["steps"]  # the training loop only, as for TRL
    else:
        from datasets import Dataset
        from peft import LoraConfig
        from transformers import AutoModelForCausalLM
        from trl import SFTConfig, SFTTrainer
        ds = Dataset.from_list([{"input_ids": e.input_ids, "labels": e.labels} for e in examples])
        model_obj = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        lo = opts.lora
        with tempfile.TemporaryDirectory() as d:
            cfg = SFTConfig(output_dir=d, per_device_train_batch_size=opts.batch_size, max_steps=steps,
                            learning_rate=opts.lr, bf16=False, use_cpu=True, report_to=[], save_strategy="no",
                            logging_steps=1, max_length=opts.max_len, seed=0, dataloader_num_workers=0,
                            gradient_checkpointing=checkpointing,
                            disable_tqdm=True)
            trainer = SFTTrainer(model=model_obj, args=cfg, train_dataset=ds, processing_class=tok,
                                 peft_config=LoraConfig(r=lo.r, lora_alpha=lo.alpha, lora_dropout=lo.dropout,
                                                        target_modules=lo.target_modules, task_type="CAUSAL_LM"))
            t0 = time.perf_counter()
            trainer.train()
            seconds, steps_done = time.perf_counter() - t0, trainer.state.global_step
    tokens_per_step = stats["tokens"] / len(examples) * opts.batch_size  # the same data for both
    out.write_text(json.dumps({"trainer": which, "checkpointing": checkpointing, "steps": steps_done,
                               "seconds": seconds,
                               "tokens_per_s": tokens_per_step * steps_done / seconds,
                               "trainable_tokens": stats["trainable_tokens"],
                               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", nargs=4, metavar=("WHICH", "MODEL", "STEPS", "CHECKPOINTING"))
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        which, model, steps, checkpointing = args.child
        run_one(which, model, int(steps), Path(args.out), checkpointing == "1")
        return
    model, steps = ("tiny-random", 8) if args.quick else ("smollm2", 4)
    # (checkpointing, repetitions): the pair without it (our default) is the main figure
    runs = [(False, 1), (True, 1)] if args.quick else [(False, 2), (True, 1)]
    rows, ratios = [], {}
    with tempfile.TemporaryDirectory() as d:
        for checkpointing, reps in runs:
            pair = []
            for rep in range(reps):
                for which in ("ours", "trl"):
                    f = Path(d) / f"{which}{rep}{int(checkpointing)}.json"
                    subprocess.run([sys.executable, __file__, "--child", which, model, str(steps),
                                    str(int(checkpointing)), "--out", str(f)], check=True)
                    pair.append(json.loads(f.read_text()))
            speed = {w: statistics.median(r["tokens_per_s"] for r in pair if r["trainer"] == w)
                     for w in ("ours", "trl")}
            mem = {w: max(r["peak_rss_mb"] for r in pair if r["trainer"] == w) for w in ("ours", "trl")}
            label = "with" if checkpointing else "without"
            ratios[f"ours/trl tokens_per_s, {label} checkpointing"] = speed["ours"] / speed["trl"]
            ratios[f"ours/trl peak_rss, {label} checkpointing"] = mem["ours"] / mem["trl"]
            rows += pair
    report(f"training throughput (LoRA r=16, {model}, batch 4, {steps} steps)", rows, ratios,
           {k: ">= 1.0" for k in ratios if "tokens_per_s" in k})


if __name__ == "__main__":
    main()

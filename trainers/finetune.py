"""One fine-tuning stage: LoRA (peft) by default, full fine-tuning optional, transformers Trainer.

`accelerate launch` runs a stage on several processes (Trainer is accelerate-native; see
harness/ranks.py for a whole experiment): every process trains, only the main one writes the
stage's files, and all return the main one's result. Stages are resumable: checkpoints land in
`<stage>/checkpoints` and a restarted stage continues from the last one; a finished stage
(result.json present) is not trained again.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from pydantic import Field

from harness.agent import free_for_training
from harness.ranks import is_main, shared_stage
from harness.specs import Strict

from .data import IGNORE, encode_all, export_messages_jsonl

RESULT_FILE = "result.json"
MODEL_DIR = "model"


class LoraOptions(Strict):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


class TrainOptions(Strict):
    model: str = Field("smollm2", description="base model: 'smollm2', 'tiny-random' or a local folder")
    lora: LoraOptions | None = Field(default_factory=LoraOptions, description="null = full fine-tuning")
    epochs: float = Field(2.0, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: epochs decide)")
    lr: float = Field(2e-4, gt=0)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_len: int = Field(2048, ge=64, description="tokens per example; longer ones lose their oldest turns")
    warmup_steps: float = Field(0, ge=0, description="warm-up steps; a value below 1 is a fraction of all steps")
    weight_decay: float = Field(0.0, ge=0)
    gradient_checkpointing: bool = False
    sampler: str = Field("group_by_length",
                         description="transformers train_sampling_strategy; length grouping cuts padding")
    save_steps: int = Field(50, ge=1, description="checkpoint every N steps (resume point)")
    seed: int = 0


class _Collator:
    """Pads a batch. With ``only_trained_logits`` the model projects to the vocabulary only where a
    label is trained (`logits_to_keep` mask, and the matching `shift_labels`): agent trajectories are
    mostly observations, and full-vocabulary logits at every position dominate memory. Same loss."""

    def __init__(self, pad_id: int, only_trained_logits: bool = False):
        self.pad_id = pad_id
        self.only_trained_logits = only_trained_logits

    def __call__(self, batch):
        import torch
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            labels[i, :n] = torch.tensor(b["labels"])
            mask[i, :n] = 1
        out = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        if self.only_trained_logits:
            shifted = torch.full_like(labels, IGNORE)
            shifted[:, :-1] = labels[:, 1:]  # position p predicts token p + 1
            keep = shifted != IGNORE
            out |= {"logits_to_keep": keep, "shift_labels": shifted[keep]}
        return out


def _accepts_logits_mask(model) -> bool:
    """Whether the model's forward slices its hidden states with transformers' `slice_logits_to_keep`
    (nearly every causal LM in transformers 5; it takes a boolean mask). Others get full logits."""
    import sys
    return hasattr(sys.modules[type(model).__module__], "slice_logits_to_keep")


def last_complete_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest checkpoint a kill did not cut short (Trainer writes trainer_state.json last);
    incomplete ones are removed so that they are never resumed from."""
    if not ckpt_dir.is_dir():
        return None
    found = sorted((p for p in ckpt_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]))
    for p in reversed(found):
        if (p / "trainer_state.json").is_file():
            return str(p)
        shutil.rmtree(p, ignore_errors=True)
    return None


def stage_result(out_dir: Path) -> dict | None:
    f = Path(out_dir) / RESULT_FILE
    return json.loads(f.read_text()) if f.is_file() else None


@shared_stage
def fine_tune(trajs, opts: TrainOptions, out_dir: Path, init_adapter: Path | None = None) -> dict:
    """Train on ``trajs`` (their per-message train flags are the loss mask); returns the stage result."""
    out_dir = Path(out_dir)
    done = stage_result(out_dir)
    if done is not None:
        return done
    free_for_training()
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments, set_seed

    from harness.models import resolve_model

    trajs = list(trajs)
    base = resolve_model(opts.model)
    tokenizer = load_tokenizer(base)
    examples, stats = encode_all(trajs, tokenizer, opts.max_len)
    if is_main():
        out_dir.mkdir(parents=True, exist_ok=True)
        export_messages_jsonl(trajs, out_dir / "data.jsonl")  # the exact data set, inspectable and reusable
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16 if torch.cuda.is_available()
                                                 else torch.float32)
    collator = _Collator(tokenizer.pad_token_id, only_trained_logits=_accepts_logits_mask(model))
    set_seed(opts.seed)  # a new adapter's random init (Trainer seeds only later): same seed, same run
    if opts.lora is not None:
        from peft import LoraConfig, PeftModel, get_peft_model
        if init_adapter is not None:  # continue from the previous iteration's adapter
            model = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True)
        else:
            model = get_peft_model(model, LoraConfig(r=opts.lora.r, lora_alpha=opts.lora.alpha,
                                                     lora_dropout=opts.lora.dropout,
                                                     target_modules=opts.lora.target_modules, task_type="CAUSAL_LM"))
    if opts.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        if opts.lora is not None:
            model.enable_input_require_grads()
    args = training_arguments(TrainingArguments, opts, out_dir, epochs=opts.epochs, lr=opts.lr,
                              warmup=opts.warmup_steps, train_sampling_strategy=opts.sampler)
    dataset = [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    return train_stage(trainer, tokenizer, out_dir, {
        "adapter": opts.lora is not None, "base_model": base, "data": stats,
        "init_adapter": str(init_adapter) if init_adapter is not None else None})


def load_tokenizer(model_dir: str):
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def training_arguments(args_class, opts: TrainOptions, out_dir: Path, *, epochs: float, lr: float, warmup: float,
                       **more):
    """The arguments every fine-tuning stage shares (``args_class``: TrainingArguments or a subclass such as
    TRL's DPOConfig); checkpoints go to ``<out_dir>/checkpoints``, where ``train_stage`` resumes from."""
    import torch
    cuda = torch.cuda.is_available()
    return args_class(
        output_dir=str(Path(out_dir) / "checkpoints"), per_device_train_batch_size=opts.batch_size,
        gradient_accumulation_steps=opts.grad_accum, num_train_epochs=epochs, max_steps=opts.max_steps,
        learning_rate=lr, warmup_steps=warmup, weight_decay=opts.weight_decay,
        gradient_checkpointing=opts.gradient_checkpointing,
        logging_steps=1, save_strategy="steps", save_steps=opts.save_steps, save_total_limit=2,
        seed=opts.seed, data_seed=opts.seed, use_cpu=not cuda, bf16=cuda, report_to=[],
        remove_unused_columns=False, dataloader_num_workers=0, disable_tqdm=os.environ.get("CI") == "true",
        **more)


def train_stage(trainer, tokenizer, out_dir: Path, result: dict, save_adapters: list[str] | None = None) -> dict:
    """Train (resuming from the last complete checkpoint), save the model and the log, and write the
    stage's result.json last: a stage with one is finished. ``result`` holds what the caller knows.
    On several processes every one trains; the main one writes and its result is returned by all."""
    from accelerate.utils import broadcast_object_list

    accelerator = trainer.accelerator
    ckpt_dir = Path(out_dir) / "checkpoints"
    # the main process removes torn checkpoints; every process resumes from the one it chose
    resume = broadcast_object_list([last_complete_checkpoint(ckpt_dir) if is_main() else None])[0]
    t0 = time.monotonic()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.monotonic() - t0
    model_dir = Path(out_dir) / MODEL_DIR
    weights = accelerator.get_state_dict(trainer.model_wrapped)  # every process: FSDP/ZeRO gather on the main one
    if is_main():
        model = accelerator.unwrap_model(trainer.model)
        if save_adapters is not None:
            model.save_pretrained(model_dir, state_dict=weights, selected_adapters=save_adapters)
        else:
            model.save_pretrained(model_dir, state_dict=weights)
        tokenizer.save_pretrained(model_dir)
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]  # averaged over the processes
        with open(Path(out_dir) / "train_log.jsonl", "w") as fh:
            for h in trainer.state.log_history:
                fh.write(json.dumps(h) + "\n")
        result = {"model_dir": str(model_dir), **result, "steps": trainer.state.global_step,
                  "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
                  "seconds": round(seconds, 3), "resumed_from": resume, "processes": accelerator.num_processes}
        tmp = Path(out_dir) / (RESULT_FILE + ".tmp")
        tmp.write_text(json.dumps(result, indent=2))
        os.replace(tmp, Path(out_dir) / RESULT_FILE)
    return broadcast_object_list([result if is_main() else None])[0]

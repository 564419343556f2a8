"""One DPO stage on preference pairs, with TRL's DPOTrainer fed our own tokens.

The pairs are tokenized by `trainers.data.encode_pair`, the SFT pipeline: the model's chat template,
sampled ids in place, and a mask that is on only where SFT would put labels (the continuation's
assistant turns and their end-of-turn token). TRL 1.x would re-render the pairs' text with its own
template code and count every continuation token, observations included; so `_prepare_dataset` passes
our tokens through and the collator gives TRL our mask as its `completion_mask`. TRL computes the
loss, the reference and the logs. The reference is the policy the stage starts from: with LoRA, TRL
keeps a frozen copy of that adapter ("ref"); with full fine-tuning, a second copy of the model.

Stages resume like `fine_tune`: checkpoints in `<stage>/checkpoints`, result.json when finished; on
several processes (`accelerate launch`) only the main one writes.
"""
from __future__ import annotations

import logging
from pathlib import Path

from pydantic import Field

from harness.errors import HarnessError
from harness.agent import free_for_training
from harness.ranks import is_main, shared_stage
from harness.specs import Strict

from .data import Pair, encode_pair
from .finetune import TrainOptions, load_tokenizer, stage_result, train_stage, training_arguments

log = logging.getLogger(__name__)
TRL_TESTED = "1.16"  # the DPOTrainer internals this relies on (completion_mask, _prepare_dataset)


class DPOOptions(Strict):
    """ETO's DPO settings (run_eto.sh) as defaults. Batch size, max_len, LoRA, checkpoints: `train`."""
    beta_first: float = Field(0.1, gt=0, description="DPO beta in the first iteration (ETO: 0.1)")
    beta: float = Field(0.5, gt=0, description="DPO beta in later iterations (ETO: 0.5)")
    lr_first: float = Field(1e-6, gt=0, description="learning rate in the first iteration (ETO: 1e-6)")
    lr: float = Field(5e-7, gt=0, description="learning rate in later iterations (ETO: 5e-7)")
    epochs: float = Field(3.0, gt=0, description="epochs over the pairs per iteration (ETO: 3)")
    warmup: float = Field(0.1, ge=0, description="warm-up steps; below 1, a fraction of all steps (ETO: 0.1)")
    scheduler: str = Field("constant_with_warmup", description="transformers lr_scheduler_type (ETO's)")
    extra_turns: int = Field(5, ge=0, description="a rejected trajectory is cut to at most the expert's number of "
                                                  "turns plus this many (ETO: 5)")

    def for_iteration(self, it: int) -> tuple[float, float]:
        """(beta, learning rate) of iteration ``it`` (1 is the first DPO iteration)."""
        return (self.beta_first, self.lr_first) if it == 1 else (self.beta, self.lr)


class _PairCollator:
    """Pads a batch as TRL's DPO loss wants it: the chosen sequences, then the rejected ones, with our
    loss mask as `completion_mask` (zero over the prompt and over everything SFT would not train)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch):
        import torch
        seqs = ([b["prompt_ids"] + b["chosen_ids"] for b in batch]
                + [b["prompt_ids"] + b["rejected_ids"] for b in batch])
        masks = ([[0] * len(b["prompt_ids"]) + b["chosen_mask"] for b in batch]
                 + [[0] * len(b["prompt_ids"]) + b["rejected_mask"] for b in batch])
        width = max(map(len, seqs))
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        completion = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, (s, m) in enumerate(zip(seqs, masks)):
            ids[i, :len(s)] = torch.tensor(s)
            attention[i, :len(s)] = 1
            completion[i, :len(s)] = torch.tensor(m)
        return {"input_ids": ids, "attention_mask": attention, "completion_mask": completion}


def _trl_dpo_trainer():
    import trl
    from packaging.version import Version
    from trl import DPOConfig, DPOTrainer
    if Version(trl.__version__) < Version(TRL_TESTED):
        raise HarnessError(f"DPO needs trl>={TRL_TESTED} (installed: {trl.__version__}): it gives DPOTrainer "
                           "its own tokens and loss mask; pip install -U 'trl>=1.16'")

    class TokenDPOTrainer(DPOTrainer):
        def _prepare_dataset(self, dataset, *args, **kwargs):
            return dataset  # tokenized by encode_pair: see the module's doc

    return TokenDPOTrainer, DPOConfig


@shared_stage
def dpo_tune(pairs: list[Pair], policy: dict, opts: TrainOptions, *, beta: float, lr: float, dpo: DPOOptions,
             out_dir: Path) -> dict:
    """Train ``policy`` (a stage result: an adapter on a base model, or a full model) by DPO on ``pairs``,
    the policy itself as the reference; returns the stage result (resumed or finished stages as fine_tune)."""
    out_dir = Path(out_dir)
    done = stage_result(out_dir)
    if done is not None:
        return done
    free_for_training()
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    if is_main():
        out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(policy["model_dir"])  # saved with the policy: the same as its base's
    examples = [encode_pair(p, tokenizer) for p in pairs]
    kept = [e for e in examples if e.longest <= opts.max_len]
    if len(kept) < len(examples):
        log.warning("%d of %d pairs are longer than train.max_len (%d tokens) and are left out",
                    len(examples) - len(kept), len(examples), opts.max_len)
    if not kept:
        raise HarnessError(f"{out_dir}: every preference pair is longer than train.max_len ({opts.max_len}); raise it")
    stats = {"pairs": len(kept), "too_long": len(examples) - len(kept),
             "tokens": sum(len(e.prompt_ids) * 2 + len(e.chosen_ids) + len(e.rejected_ids) for e in kept),
             "trainable_tokens": sum(sum(e.chosen_mask) + sum(e.rejected_mask) for e in kept)}
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    ref_model = None
    if policy["adapter"]:
        from peft import PeftModel
        base = AutoModelForCausalLM.from_pretrained(policy["base_model"], dtype=dtype)
        model = PeftModel.from_pretrained(base, policy["model_dir"], is_trainable=True)  # TRL copies it as "ref"
    else:
        model = AutoModelForCausalLM.from_pretrained(policy["model_dir"], dtype=dtype)
        ref_model = AutoModelForCausalLM.from_pretrained(policy["model_dir"], dtype=dtype)
    trainer_class, config_class = _trl_dpo_trainer()
    args = training_arguments(config_class, opts, out_dir, epochs=dpo.epochs, lr=lr, warmup=dpo.warmup, beta=beta,
                              lr_scheduler_type=dpo.scheduler, train_sampling_strategy="random")
    rows = [{"prompt_ids": e.prompt_ids, "chosen_ids": e.chosen_ids, "chosen_mask": e.chosen_mask,
             "rejected_ids": e.rejected_ids, "rejected_mask": e.rejected_mask} for e in kept]
    trainer = trainer_class(model=model, ref_model=ref_model, args=args, train_dataset=Dataset.from_list(rows),
                            processing_class=tokenizer, data_collator=_PairCollator(tokenizer.pad_token_id))
    return train_stage(trainer, tokenizer, out_dir, {
        "adapter": policy["adapter"], "base_model": policy["base_model"], "data": stats, "beta": beta, "lr": lr,
        "init_adapter": policy["model_dir"] if policy["adapter"] else None, "reference": policy["model_dir"]},
        save_adapters=["default"] if policy["adapter"] else None)

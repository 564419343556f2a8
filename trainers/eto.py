"""ETO — Exploration-based Trajectory Optimization (Song et al., 2024): SFT, then iterations of
roll out -> pair the expert's success with the agent's failure -> DPO.

Per iteration the current model plays every training subtask once (`iterK/rollouts`). A failed
rollout that scores below the expert's success on its subtask makes a pair (ETO's "lose" case): the
expert's trajectory is chosen, the rollout rejected, cut to at most the expert's number of turns +
`dpo.extra_turns` (5, as ETO's construct_preference.py). The two share the conversation up to their
first differing assistant turn (the agent's own, with its sampled ids): that is the DPO prompt, the
rest of each is its continuation; a final observation is dropped (nothing after it is trained). One
expert success per subtask is paired: the shortest (ties: the first, as `eef_logic.one_per_state`).
A rollout that succeeded or scored at least as well is not paired (ETO's "win" case cannot occur
when the expert's trajectory is a success and a failure scores lower); the counts are in the summary.

The pairs go to `iterK/pairs.jsonl` (TRL's preference format, with where each came from); DPO
(`trainers.dpo`) trains the current model against itself as the reference with ETO's beta and
learning rate per iteration (`dpo` options). An iteration without a pair keeps the model.
"""
from __future__ import annotations

from typing import Iterable

from pydantic import Field

from harness import register_trainer
from harness.experiment import Experiment, Trainer
from harness.trajectory import Message, Trajectory

from .data import Pair, export_preference_jsonl
from .dpo import DPOOptions, dpo_tune
from .eef_logic import one_per_state, state_key
from .sft import SFTConfig, brief, sft_iteration


class ETOConfig(SFTConfig):
    name: str = "eto"
    iterations: int = Field(3, ge=1, description="rounds of exploration and DPO after SFT (ETO: 3)")
    temperature: float = Field(0.0, ge=0.0, description="sampling temperature of the rollouts (ETO's run_eto.sh "
                                                        "explores greedily)")
    dpo: DPOOptions = Field(default_factory=DPOOptions)


def _ends_with_a_turn(t: Trajectory, messages: list[Message]) -> list[Message]:
    """``messages`` (of ``t``) without the trailing observations: no trained turn follows them."""
    messages = list(messages)
    while len(messages) > t.prompt_len and messages[-1].role != "assistant":
        messages.pop()
    return messages


def _plain(messages: list[Message]) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in messages]


def make_pair(expert: Trajectory, rollout: Trajectory, extra_turns: int) -> Pair | None:
    """The preference pair of an expert success and a failed rollout of its subtask (see the module's doc);
    None when the two do not differ in a turn (the rollout has none, or repeats the expert's)."""
    chosen = _ends_with_a_turn(expert, expert.messages)
    rejected = _ends_with_a_turn(rollout, rollout.messages[: rollout.assistant_index(len(expert.steps) + extra_turns)])
    a, b = _plain(chosen), _plain(rejected)
    if a == b:
        return None
    shared = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    # turns alternate from prompt_len on (assistant, observation, ...): the prompt ends before an assistant
    # turn, one turn earlier when an observation differs after an equal turn (or one side ends there)
    prompt_len = shared - (shared - rollout.prompt_len) % 2
    if prompt_len >= len(rejected):
        return None
    meta = {"subtask_id": rollout.subtask_id, "category": rollout.category,
            "chosen_id": expert.id, "rejected_id": rollout.id,
            "chosen_score": expert.score, "rejected_score": rollout.score,
            "chosen_turns": len(expert.steps), "rejected_turns_played": len(rollout.steps),
            "rejected_turns": sum(m.role == "assistant" for m in rejected),
            "shared_turns": sum(m.role == "assistant" for m in rejected[:prompt_len])}
    return Pair(id=rollout.id, prompt=rejected[:prompt_len], chosen=chosen[prompt_len:],
                rejected=rejected[prompt_len:], meta=meta)


def build_pairs(expert_wins: Iterable[Trajectory], rollouts: Iterable[Trajectory],
                extra_turns: int) -> tuple[list[Pair], dict]:
    """An iteration's pairs (in the rollouts' order) and the counts of what was not paired and why."""
    chosen = one_per_state(expert_wins, "shortest")  # expert trajectories start at s_0: one per subtask
    pairs: list[Pair] = []
    counts = {"rollouts": 0, "errored": 0, "self_successes": 0, "no_expert_success": 0, "not_worse": 0,
              "prompt_differs": 0, "no_own_turn": 0}
    for t in sorted(rollouts, key=lambda t: t.id):
        counts["rollouts"] += 1
        expert = chosen.get(state_key(t))
        if t.status != "ok":
            counts["errored"] += 1
        elif t.success:
            counts["self_successes"] += 1
        elif expert is None:
            counts["no_expert_success"] += 1
        elif t.score >= expert.score:
            counts["not_worse"] += 1
        elif _plain(t.messages[: t.prompt_len]) != _plain(expert.messages[: expert.prompt_len]):
            counts["prompt_differs"] += 1  # e.g. an imported expert set written for another prompt
        elif (pair := make_pair(expert, t, extra_turns)) is None:
            counts["no_own_turn"] += 1
        else:
            pairs.append(pair)
    counts["pairs"] = len(pairs)
    return pairs, counts


@register_trainer("eto")
class ETOTrainer(Trainer):
    """SFT on expert successes, then iterations of exploration and DPO on expert-vs-failure pairs."""

    Config = ETOConfig

    def run(self, exp: Experiment) -> list[dict]:
        c = self.config
        _, wins, policy, it0 = sft_iteration(exp, c)
        iterations = [it0]
        for it in range(1, c.iterations + 1):
            rollouts = exp.run_stage(f"iter{it}/rollouts", exp.spec.task, exp.model_agent(policy, c.temperature))
            pairs, counts = build_pairs(wins, rollouts.latest().values(), c.dpo.extra_turns)
            if counts["prompt_differs"]:
                exp.console.print(f"[yellow]iteration {it}: {counts['prompt_differs']} failed rollouts not paired: "
                                  "their expert trajectory starts from another prompt[/]")
            export_preference_jsonl(pairs, exp.path / f"iter{it}" / "pairs.jsonl")
            beta, lr = c.dpo.for_iteration(it)
            trained = None
            if pairs:
                trained = dpo_tune(pairs, policy, c.train, beta=beta, lr=lr, dpo=c.dpo,
                                   out_dir=exp.path / f"iter{it}" / "train")
                policy = trained
            else:
                exp.console.print(f"[yellow]iteration {it}: no preference pair (no failed rollout of a subtask "
                                  "the expert solved); the model stays as it was[/]")
            roll_sum = rollouts.summary()
            line = {"iteration": it, "rollouts": brief(roll_sum), "pairs": counts, "training_examples": len(pairs),
                    "train": trained, "eval": brief(exp.evaluate(it, policy))}
            iterations.append(line)
            exp.write_summary(iterations)
            exp.log(f"iter{it}", rollout_win_rate=roll_sum["win_rate"], pairs=len(pairs),
                    **({k: trained[k] for k in ("steps", "first_loss", "last_loss")} if trained else {}))
            msg = (f"iteration {it}: rollouts solved {roll_sum['subtasks_solved']}/{roll_sum['subtasks']} subtasks; "
                   f"{len(pairs)} preference pairs (beta {beta}, lr {lr})")
            if line["eval"]:
                msg += f"; eval win rate {100 * line['eval']['win_rate']:.1f}%"
            exp.console.print(msg)
        return iterations

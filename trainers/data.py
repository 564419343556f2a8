"""Trajectories -> training examples: chat-template tokens with a loss mask built per message.

Only assistant messages whose ``train`` flag is on carry labels: their content and the model's
end-of-turn token (so the model learns to stop), never the role header the generation prompt
supplies. Spans are found by rendering the conversation prefix by prefix and checking that each
rendering extends the previous one, so a chat template that rewrites earlier turns is an error,
not a silently shifted mask.

A model agent's own turns carry the token ids it sampled (harness.tokens): those ids stand in the
example in place of the template's tokens for the text, trained or not, so a self-generated turn
trains on exactly what was sampled and later turns see the context the model saw. Where the
template's tokens differed, that is counted (``sampled_spliced`` in the stats), not an error;
ids that do not decode to their message with this tokenizer (another model family's) are
counted as ``sampled_unused`` and the turn trains on the template's tokens; a turn whose
context here has another length than the prompt it was sampled from (old turns dropped by the
agent's max_context, or here by max_len) counts as ``sampled_prompt_differs``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from harness.errors import HarnessError
from harness.tokens import TemplateError, Turn, chat_ids
from harness.trajectory import Message, Trajectory

log = logging.getLogger(__name__)

IGNORE = -100


class DataError(HarnessError):
    pass


@dataclass
class Example:
    id: str
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False
    # the trajectory's model-sampled turns kept here, and how they fared (see the module's doc)
    sampled_turns: int = 0
    sampled_spliced: int = 0
    sampled_unused: int = 0
    sampled_prompt_differs: int = 0

    @property
    def trainable_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def _tokenize(tokenizer, messages: list[Message], example_id: str) -> tuple[list[int], list[int], list[Turn]]:
    dicts = [{"role": m.role, "content": m.content, "token_ids": m.token_ids} for m in messages]
    trained = [i for i, m in enumerate(messages) if m.role == "assistant" and m.train]
    try:
        ids, turns = chat_ids(tokenizer, dicts, turns_of=trained)
    except TemplateError as exc:
        raise DataError(f"example {example_id}: {exc}; cannot place its loss mask") from exc
    labels = [IGNORE] * len(ids)
    for t in turns:
        if messages[t.index].train:
            labels[t.start:t.stop] = ids[t.start:t.stop]
    return ids, labels, turns


def encode(traj: Trajectory, tokenizer, max_len: int) -> Example:
    """Tokens and labels of one trajectory; past ``max_len``, drop the oldest turns (never the prompt)."""
    messages = list(traj.messages)
    first_turn = next((i for i, m in enumerate(messages) if m.role == "assistant"), len(messages))
    truncated = False
    while True:
        ids, labels, turns = _tokenize(tokenizer, messages, traj.id)
        if len(ids) <= max_len:
            break
        if len(messages) - first_turn <= 2:
            raise DataError(f"example {traj.id}: {len(ids)} tokens even with only its prompt and last turn; "
                            f"raise max_len (now {max_len})")
        del messages[first_turn: first_turn + 2]  # the oldest assistant/observation pair
        truncated = True
    sampled = [t for t in turns if t.sampled != "none"]
    ex = Example(id=traj.id, input_ids=ids, labels=labels, truncated=truncated, sampled_turns=len(sampled),
                 sampled_spliced=sum(t.sampled == "spliced" for t in sampled),
                 sampled_unused=sum(t.sampled == "unused" for t in sampled),
                 sampled_prompt_differs=sum(t.start != messages[t.index].prompt_tokens for t in sampled))
    if ex.trainable_tokens == 0:
        raise DataError(f"example {traj.id}: no trainable tokens (no assistant message with train on"
                        f"{' left after truncation' if truncated else ''})")
    return ex


def encode_all(trajs: Iterable[Trajectory], tokenizer, max_len: int) -> tuple[list[Example], dict]:
    examples = [encode(t, tokenizer, max_len) for t in trajs]
    stats = {"examples": len(examples), "truncated": sum(e.truncated for e in examples),
             "tokens": sum(len(e.input_ids) for e in examples),
             "trainable_tokens": sum(e.trainable_tokens for e in examples)}
    for k in ("sampled_turns", "sampled_spliced", "sampled_unused", "sampled_prompt_differs"):
        stats[k] = sum(getattr(e, k) for e in examples)
    if stats["sampled_unused"]:
        log.warning("%d sampled turns train on their text's tokens: their recorded ids are not this "
                    "tokenizer's (sampled by another model family?)", stats["sampled_unused"])
    return examples, stats


# ---------------------------------------------------------------- preference pairs

@dataclass
class Pair:
    """Two continuations of one conversation (DPO): ``prompt`` is what both share, ``chosen`` and
    ``rejected`` each start with an assistant turn. Their assistant turns are what the loss is on."""
    id: str
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    meta: dict  # where the two come from (written with the pair)


@dataclass
class PairExample:
    """A pair's tokens: ``prompt_ids + chosen_ids`` is the chosen conversation tokenized as ``encode``
    tokenizes SFT data (so too for rejected); a mask is 1 where ``encode`` would put a label."""
    id: str
    prompt_ids: list[int]
    chosen_ids: list[int]
    chosen_mask: list[int]
    rejected_ids: list[int]
    rejected_mask: list[int]

    @property
    def longest(self) -> int:
        return len(self.prompt_ids) + max(len(self.chosen_ids), len(self.rejected_ids))


def encode_pair(pair: Pair, tokenizer) -> PairExample:
    """Tokenize both conversations with the SFT pipeline (``_tokenize``: the chat template, sampled ids in
    place, labels on the continuation's assistant turns and their end-of-turn token, never on the prompt)
    and split them where the first continuation turn starts: the prompt ends with the generation prompt,
    exactly what the model was asked to continue."""
    sides = []
    for name, continuation in (("chosen", pair.chosen), ("rejected", pair.rejected)):
        if not continuation or continuation[0].role != "assistant":
            raise DataError(f"pair {pair.id}: its {name} continuation must start with an assistant turn")
        messages = ([m.model_copy(update={"train": False}) for m in pair.prompt]
                    + [m.model_copy(update={"train": m.role == "assistant"}) for m in continuation])
        ids, labels, turns = _tokenize(tokenizer, messages, f"{pair.id} ({name})")
        start = next(t.start for t in turns if t.index == len(pair.prompt))
        sides.append((ids, labels, start))
    (c_ids, c_labels, c_start), (r_ids, r_labels, r_start) = sides
    if c_ids[:c_start] != r_ids[:r_start]:
        raise DataError(f"pair {pair.id}: the chat template renders the shared prompt differently before its two "
                        "continuations")
    return PairExample(id=pair.id, prompt_ids=c_ids[:c_start],
                       chosen_ids=c_ids[c_start:], chosen_mask=[int(x != IGNORE) for x in c_labels[c_start:]],
                       rejected_ids=r_ids[r_start:], rejected_mask=[int(x != IGNORE) for x in r_labels[r_start:]])


def export_preference_jsonl(pairs: Iterable[Pair], path: Path) -> int:
    """TRL's preference format with an explicit prompt (`prompt`/`chosen`/`rejected` messages), each line
    with the pair's id and meta; written whole or not at all."""
    def plain(messages):
        return [{"role": m.role, "content": m.content} for m in messages]

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps({"id": p.id, **p.meta, "prompt": plain(p.prompt), "chosen": plain(p.chosen),
                                 "rejected": plain(p.rejected)}, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


# ---------------------------------------------------------------- shared formats

def export_messages_jsonl(trajs: Iterable[Trajectory], path: Path) -> int:
    """OpenAI fine-tuning / TRL `messages` JSONL; the loss mask travels as `weight` on assistant turns."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for t in trajs:
            msgs = []
            for m in t.messages:
                d = {"role": m.role, "content": m.content}
                if m.role == "assistant":
                    d["weight"] = int(m.train)
                msgs.append(d)
            pool = {"pool": t.pool} if t.pool is not None else {}
            fh.write(json.dumps({"id": t.id, "subtask_id": t.subtask_id, "category": t.category, **pool,
                                 "messages": msgs}, ensure_ascii=False) + "\n")
            n += 1
    return n


def export_conversations_json(trajs: Iterable[Trajectory], path: Path) -> int:
    """ETO-style `[{id, conversations: [{from: human|gpt, value}]}]`; a system message joins the first human turn."""
    records = []
    for t in trajs:
        conv, pending_system = [], ""
        for m in t.messages:
            if m.role == "system":
                pending_system += m.content + "\n\n"
            elif m.role == "user":
                conv.append({"from": "human", "value": pending_system + m.content})
                pending_system = ""
            else:
                conv.append({"from": "gpt", "value": m.content})
        records.append({"id": t.id, "conversations": conv})
    Path(path).write_text(json.dumps(records, ensure_ascii=False, indent=1))
    return len(records)


def _imported(rec_id: str, messages: list[Message], subtask_id: str | None, category: str | None) -> Trajectory:
    prompt_len = next((i for i, m in enumerate(messages) if m.role == "assistant"), len(messages))
    return Trajectory(id=str(rec_id), task="imported", subtask_id=str(subtask_id or rec_id),
                      category=category or "imported", messages=messages, prompt_len=prompt_len,
                      success=True, score=100.0, done=True, source="imported")


def import_file(path: Path) -> list[Trajectory]:
    """Read `messages` JSONL or ETO `conversations` JSON (e.g. ETO's public SFT sets) as expert trajectories.

    Records of a public expert set are taken as successes (they were filtered so); every gpt turn is
    trained on, as in ETO's SFT.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    out = []
    try:
        if text.lstrip().startswith("["):
            for i, rec in enumerate(json.loads(text)):
                conv = rec["conversations"]
                msgs = [Message(role="user" if c["from"] in ("human", "user") else "assistant", content=c["value"],
                                train=c["from"] not in ("human", "user")) for c in conv]
                out.append(_imported(rec.get("id", i), msgs, rec.get("subtask_id"), rec.get("category")))
        else:
            for i, line in enumerate(text.splitlines()):
                if not line.strip():
                    continue
                rec = json.loads(line)
                msgs = [Message(role=m["role"], content=m["content"],
                                train=m["role"] == "assistant" and bool(m.get("weight", 1))) for m in rec["messages"]]
                out.append(_imported(rec.get("id", i), msgs, rec.get("subtask_id"), rec.get("category")))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a messages JSONL or ETO conversations JSON file ({exc})") from exc
    return out

"""Token-exact turns: a model agent's reply is trained on the very tokens it sampled.

Retokenizing a reply's text need not give back the sampled ids (a model can spell a word with
other tokens than the tokenizer would; templates trim whitespace), so model agents record them:

- `sampled_reply` cuts a generation after its action line on tokens: the kept ids are the
  shortest prefix of the sampled ids whose decoding holds the kept text, and the reply's text is
  decoded from exactly those ids, so text and ids agree.
- `chat_ids` renders a conversation with the chat template and puts each assistant message's
  recorded ids in place of the template's tokens for its text (the template's end-of-turn tokens
  stay). The agents build their prompts with it and the training data pipeline its examples, so
  a turn's prompt is a prefix of its training sequence and its labels are the sampled ids.

Recorded ids are used only where they decode to the message's text with the tokenizer at hand
(ids of another model family never are) and where the template ends the turn with the tokenizer's
end-of-turn (eos) token, which is where they are put back.
Heavy libraries stay out: a tokenizer is passed in.
"""
from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Iterable, Literal

from .errors import HarnessError

log = logging.getLogger(__name__)
# tokenizer -> {hash of messages[:i + 1]: (len, hash) of the renderings of messages[:i] with the
# generation prompt and of messages[:i + 1]}: an agent's prompt renders every earlier turn's
# prefixes again each turn (0.1 s at 30 turns, per episode), and only the newest ones are new
_SPANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SPANS_MAX = 200_000  # per tokenizer, then start over (a few ints each)
_warned: set[str] = set()

# none: no ids recorded; exact: the template's tokens equal them; spliced: they differ, the ids
# were put in; unused: ids not usable here (another tokenizer's, or no end-of-turn to place them by)
Sampled = Literal["none", "exact", "spliced", "unused"]


class TemplateError(HarnessError):
    """The chat template does not render a conversation's prefixes as prefixes of the whole."""


@dataclass
class Turn:
    index: int  # of the assistant message in the conversation
    start: int  # its first token: what precedes it is the prompt the model answered
    end: int  # past its own tokens (the text, or the sampled ids)
    stop: int  # past its end-of-turn token: start:stop is what trains
    sampled: Sampled = "none"


def render(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> list[int]:
    """The chat template's ids for role/content messages, nothing replaced."""
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    return list(tokenizer.apply_chat_template(plain, tokenize=True, add_generation_prompt=add_generation_prompt,
                                              return_dict=False))


def chat_ids(tokenizer, messages: list[dict], add_generation_prompt: bool = False,
             turns_of: Iterable[int] = ()) -> tuple[list[int], list[Turn]]:
    """The conversation's ids, recorded ids (a message's ``token_ids``) in place, and the span of
    every assistant message that has ids or is listed in ``turns_of``.

    Spans come from rendering the conversation prefix by prefix (remembered by a hash of the
    prefix's messages); a template that renders an earlier prefix otherwise than as a prefix of
    the whole (compared by hashes of the ids) raises TemplateError: no span could be trusted.
    """
    full = render(tokenizer, messages, add_generation_prompt)
    want = set(turns_of) | {i for i, m in enumerate(messages) if m.get("token_ids") is not None}
    want = sorted(i for i in want if messages[i]["role"] == "assistant")
    if not want:
        return full, []
    eos = tokenizer.eos_token_id
    seen = _SPANS.setdefault(tokenizer, {})
    if len(seen) > _SPANS_MAX:
        seen.clear()
    key = 0
    keys = []  # a hash of messages[:i + 1] (str hashes are cached: cheap every turn)
    for m in messages[: want[-1] + 1]:
        key = hash((key, m["role"], m["content"]))
        keys.append(key)
    out: list[int] = []
    turns: list[Turn] = []
    done = 0  # tokens of `full` copied or replaced so far
    for i in want:
        if keys[i] not in seen:
            head = render(tokenizer, messages[:i], add_generation_prompt=True)
            upto = render(tokenizer, messages[: i + 1])
            seen[keys[i]] = (len(head), hash(tuple(head)), len(upto), hash(tuple(upto)))
        n_head, h_head, n_upto, h_upto = seen[keys[i]]
        if (hash(tuple(full[:n_head])) != h_head or hash(tuple(full[:n_upto])) != h_upto
                or n_upto < n_head or n_upto > len(full)):
            raise TemplateError(f"the chat template does not render message {i} as a prefix of the conversation")
        seg = full[n_head:n_upto]
        own = len(seg) - 1 - seg[::-1].index(eos) if eos in seg else len(seg)  # where the end of turn starts
        stop = own + 1 if eos in seg else len(seg)  # through eos: what the template adds after it is not the model's
        ids = messages[i].get("token_ids")
        sampled: Sampled = "none"
        if ids is not None:
            usable = eos in seg and tokenizer.decode(ids, skip_special_tokens=True) == messages[i]["content"]
            sampled = "unused" if not usable else "exact" if list(ids) == seg[:own] else "spliced"
        out += full[done:n_head]
        start = len(out)
        out += list(ids) if sampled in ("exact", "spliced") else seg[:own]
        turns.append(Turn(index=i, start=start, end=len(out), stop=len(out) + stop - own, sampled=sampled))
        done = n_head + own
    out += full[done:]
    return out, turns


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """A model agent's prompt: the conversation with its recorded ids and the generation prompt.
    A template that rewrites earlier turns gets its own rendering (nothing can be put back)."""
    try:
        return chat_ids(tokenizer, messages, add_generation_prompt=True)[0]
    except TemplateError as exc:
        if str(exc) not in _warned:  # once: it recurs every turn
            _warned.add(str(exc))
            log.warning("prompt rendered from its text, without the sampled ids: %s", exc)
        return render(tokenizer, messages, add_generation_prompt=True)


def sampled_reply(tokenizer, sampled: list[int], kept: str) -> tuple[str, list[int] | None]:
    """The text and ids of a reply cut to ``kept`` (text of the sampled ids): the shortest prefix of
    ``sampled`` whose decoding holds ``kept``, and the text decoded from it. No prefix holds it
    (``kept`` came from another decoder): ``kept`` and no ids, so the reply trains on its text."""
    def holds(n: int) -> bool:
        return kept in tokenizer.decode(sampled[:n], skip_special_tokens=True)

    if not holds(len(sampled)):
        return kept, None
    lo, hi = 0, len(sampled)  # holds(hi); decoding a longer prefix only extends the text
    while lo < hi:
        mid = (lo + hi) // 2
        if holds(mid):
            hi = mid
        else:
            lo = mid + 1
    ids = list(sampled[:hi])
    return tokenizer.decode(ids, skip_special_tokens=True), ids

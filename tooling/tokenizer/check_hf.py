#!/usr/bin/env python3
"""Loads the tiny preset tokenizer with the Rust `tokenizers` and with transformers, checks round
trips and the vocabulary, renders the chat template with transformers' Jinja, and writes the results
as a JSON reference that the JavaScript tests compare against.

Usage: python check_hf.py PRESET_DIR SAMPLES_JSON OUT_JSON
"""

import json
import sys

import tokenizers
import transformers
from transformers import AutoTokenizer

preset, samples_path, out_path = sys.argv[1:4]
samples = json.load(open(samples_path, encoding="utf-8"))
rust = tokenizers.Tokenizer.from_file(f"{preset}/tokenizer.json")
auto = AutoTokenizer.from_pretrained(preset)
print("transformers", transformers.__version__, "tokenizers", tokenizers.__version__, type(auto).__name__)

out = {
    "tokenizers": tokenizers.__version__,
    "transformers": transformers.__version__,
    "auto_class": type(auto).__name__,
    "vocab_size": rust.get_vocab_size(with_added_tokens=True),
    "len_auto": len(auto),
    "special_ids": {t: rust.token_to_id(t) for t in ["<|bos|>", "<|eos|>", "<|pad|>", "<|user|>", "<|assistant|>", "<|system|>"]},
    "auto_bos_eos_pad": [auto.bos_token_id, auto.eos_token_id, auto.pad_token_id],
    "texts": [],
    "chats": [],
}
bad = 0
for text in samples["texts"]:
    plain = rust.encode(text, add_special_tokens=False).ids
    special = rust.encode(text).ids
    auto_ids = auto(text)["input_ids"]
    back = rust.decode(plain, skip_special_tokens=False)
    back_auto = auto.decode(auto_ids, skip_special_tokens=True)
    ok = back == text and auto_ids == special and (back_auto == text or "<|" in text)
    bad += not ok
    out["texts"].append({"text": text, "ids": plain, "ids_with_special": special, "round_trip": back == text, "auto_matches": auto_ids == special})
for chat in samples["chats"]:
    rendered = auto.apply_chat_template(chat["messages"], add_generation_prompt=chat["add_generation_prompt"], tokenize=False)
    ids = rust.encode(rendered, add_special_tokens=False).ids
    out["chats"].append({**chat, "rendered": rendered, "ids": ids})
    print(repr(rendered))
json.dump(out, open(out_path, "w", encoding="utf-8"), ensure_ascii=False, indent=1)
print("vocab", out["vocab_size"], "len(auto)", out["len_auto"], "special", out["special_ids"], "bos/eos/pad", out["auto_bos_eos_pad"], "bad", bad)

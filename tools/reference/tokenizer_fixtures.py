#!/usr/bin/env python3
"""Reference token ids for the C tokenizer.json implementation (tests/test_tokenizer_hf.c).

Runs where `tokenizers` and `transformers` are installed (the device machine):

    python3 tools/reference/tokenizer_fixtures.py --models .models --data .models/data --out DIR

(.models holds copies of ../shared/models and .models/data of ../shared/data, carried to the
device; the files it writes into DIR are copied into tests/fixtures/tokenizer/, except the
*_full.jsonl debugging files.)

It encodes a corpus with two tokenizer.json files through the `tokenizers` library, checks that
transformers gives the same ids, and writes into DIR:
  corpus.tsv       one row per corpus text: where the text comes from, an FNV-1a 64 hash of its
                   UTF-8 bytes, and per tokenizer the id count, an FNV-1a 64 hash of the ids (as
                   little-endian int32), whether decode(encode(x)) == x, and the hash of the
                   decoded bytes when it is not;
  samples.json     full ids for every 50th corpus text; every edge case ("text", or "hex" when it
                   is not valid UTF-8 or holds NUL) with its ids, round-trip flag and decoded text
                   when that differs from the input; GENERATED large texts (1 MB of letters, ...)
                   made by a rule, with the hash of their ids; and VARIANTS: tokenizers made from
                   the two by replacing components (a JSON patch of top-level keys), to cover
                   components the two files do not use, with per-text "n_ids ids_fnv
                   special_ids_fnv decoded_fnv" for every 10th corpus text and every edge case;
  full_ids.jsonl, variants_full.jsonl   every id, for debugging only (too large to commit).

Every text's ids with add_special_tokens=True must be special_prefix + ids for the two
tokenizers (the script stops otherwise), so only the ids without special tokens are stored.

How each corpus text is extracted (tests/test_tokenizer_hf.c does the same):
  - *.jsonl: the file is split on b"\\n"; blank lines are skipped; "line" is the index in that
    split. A string field gives one text (turn -1); a list field ("turns") one text per element.
  - tinystories_val.txt: the file is split on b"\\n" into lines; text k is lines [40k, 40k + 40)
    joined with b"\\n" ("line" = 40k, "turn" = the number of lines joined); empty texts are skipped.

Invalid UTF-8: `tokenizers` takes a Python str, so bytes become text with
bytes.decode("utf-8", errors="replace"): each maximal invalid subpart becomes one U+FFFD. The C
encoder does the same replacement before it tokenizes, so both see the same text.
"""
import argparse
import hashlib
import json
import os
import platform
import struct
import sys

TOKENIZERS = [
    ("pycode", "pycode/pycode-19m/tokenizer.json"),
    ("llama2", "tinystories-llama2c/llama2-tokenizer/tokenizer.json"),
]
# key, file, field
SOURCES = [
    ("he", "humaneval.jsonl", "prompt"),
    ("sb", "spec_bench.jsonl", "turns"),
    ("mt", "mt_bench.jsonl", "turns"),
    ("gsm", "gsm8k_test.jsonl", "question"),
    ("ts", "tinystories_val.txt", "lines"),
]
TS_CHUNK = 40
SAMPLE_EVERY = 50
VARIANT_EVERY = 10


def lcg_letters(n, seed):
    """Deterministic pseudo-random ASCII letters (no whitespace)."""
    out = bytearray()
    x = seed
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out.append(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[(x >> 33) % 52])
    return bytes(out)


EDGE_CASES = [
    ("empty", b""),
    ("hello_world", b"Hello world"),
    ("space", b" "),
    ("spaces_run", b"a" + b" " * 17 + b"b"),
    ("leading_trailing_spaces", b"   hello world   "),
    ("only_spaces", b" " * 40),
    ("long_spaces_then_word", b" " * 500 + b"x"),
    ("tabs", b"\t\tdef f():\n\t\treturn 1\n\t"),
    ("newlines", b"\n\n\nx\n\n"),
    ("only_newlines", b"\n" * 10),
    ("mixed_whitespace", b" \t \n \r\n \x0b\x0c end \t\n"),
    ("newline_space_mix", b"a\n \n  \n   b  \n"),
    ("crlf", b"line one\r\nline two\r\n\r\n"),
    ("unicode_spaces", "a\u00a0b\u2003c\u3000d\u180ee\u0085f\u2028g\u200bh\ufeffi \u00a0 j".encode()),
    ("emoji", "Hi \U0001f44b\U0001f3fd! \U0001f30d\U0001f680 \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f \U0001f1e9\U0001f1ea".encode()),
    ("cjk", "你好，世界。日本語のテキスト、カタカナ。한국어 문장입니다.".encode()),
    ("combining_marks", "e\u0301 cafe\u0301 a\u0308\u0308 Z\u0351\u0352\u0353 \u0915\u094d\u0937 n\u0303o".encode()),
    ("scripts", "Ελληνικά Русский текст العربية עברית हिन्दी ไทย Tiếng Việt".encode()),
    ("digits", b"0123456789012345678901234567890 3.14159 1,000,000 2024-01-02 x1y22z333 007"),
    ("unicode_digits", "\u0660\u0661\u0662\u0663 \u096a\u096b\u096c \u216b\u2163 \u00b2\u00b3 \u2460\u2461".encode()),
    ("long_digits", b"9" * 1001),
    ("long_word", b"antidisestablishmentarianism" * 20),
    ("long_letters", lcg_letters(3000, 12345)),
    ("long_punctuation", b"=-" * 500),
    ("special_inside", b"Hello<|endoftext|>world"),
    ("special_twice", b"<|endoftext|><|endoftext|>"),
    ("special_spaced", b"a <|endoftext|> b\n<|endoftext|>\n"),
    ("special_partial", b"<|endoftext| <|endof <|endoftext|"),
    ("special_at_start", b"<|endoftext|>def f():\n    pass\n"),
    ("llama_specials", b"<s>Hello</s> <unk> world<s>"),
    ("added_token_options", b"x <mask>  y ab, cab ab\n<mask>Hello world Hello, Helloo, aHello <mask>"),
    ("byte_token_literal", b"<0x41> <0xFF> <0x0A>"),
    ("metaspace_char", "\u2581 \u2581\u2581x \u2581hello".encode()),
    ("contractions", b"I'M DON'T we'll They'Re it's 's 'S 'll've"),
    ("code", b'def main():\n    print("hi")  # comment\n    return {"a": [1, 2]}\n\n\nclass A:\n    pass\n'),
    ("nul", b"a\x00b\x00"),
    ("controls", bytes(range(1, 32)) + b"\x7f"),
    ("latin1_block", "".join(chr(c) for c in range(0xA0, 0x180)).encode()),
    ("astral", "\U0001d53e\U0001d560\U0001d560\U0001d555 \U0001d55e\U0001d560\U0001d563\U0001d55f \U00013000 \U0010ffff".encode()),
    ("private_use", "\ue000\uf8ff x".encode()),
    ("invalid_lone_ff", b"\xff\xfe abc"),
    ("invalid_truncated", b"abc\xe2\x82"),
    ("invalid_surrogate", b"x\xed\xa0\x80y"),
    ("invalid_overlong", b"\xc0\x80\xc1\xbf\xe0\x80\x80"),
    ("invalid_too_big", b"\xf4\x90\x80\x80 \xf5\xf8"),
    ("invalid_continuations", b"ok\x80\x80ok\xbf"),
    ("invalid_mixed", b"\xe2\x82\xe2\x82\xac \xf0\x9f\x98 end"),
]

# Large texts made by a rule (the C test makes them the same way); only hashes are stored.
# lcg_letters: lcg_letters(n, seed) above; repeat: the unit n times.
GENERATED = [
    ("letters_1mb", "lcg_letters", 1000000, 12345),
    ("spaces_200k", "repeat", 200000, " "),
    ("newlines_100k", "repeat", 100000, "\n"),
    ("digits_100k", "repeat", 100000, "7"),
]


def generate(kind, n, arg):
    return lcg_letters(n, arg) if kind == "lcg_letters" else (arg * n).encode()

# Components the two tokenizer.json files do not use, on their vocabularies. Each patch replaces
# top-level keys of the base file ("added_tokens_extra" is appended to its added_tokens).
BYTELEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
VARIANTS = [
    ("llama2_metaspace_first", "llama2", {
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}]},
    }),
    ("llama2_metaspace_split", "llama2", {
        "normalizer": {"type": "Replace", "pattern": {"Regex": "\\s{2,}"}, "content": "\t"},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "decoder": None,
        "post_processor": None,
        "added_tokens_extra": [
            {"id": 32000, "content": "<mask>", "single_word": False, "lstrip": True, "rstrip": True,
             "normalized": False, "special": True},
            {"id": 32001, "content": "ab", "single_word": True, "lstrip": False, "rstrip": False,
             "normalized": True, "special": False}],
    }),
    ("pycode_gpt2", "pycode", {
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [0], "tokens": ["<|endoftext|>"]}}}]},
        "added_tokens_extra": [
            {"id": 8192, "content": "<mask>", "single_word": False, "lstrip": True, "rstrip": True,
             "normalized": False, "special": True},
            {"id": 8193, "content": "Hello", "single_word": True, "lstrip": False, "rstrip": False,
             "normalized": True, "special": False},
            {"id": 8194, "content": " world", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": True, "special": False}],
    }),
    ("pycode_splits", "pycode", {
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Replace", "pattern": {"Regex": "[ \\t]+"}, "content": " "},
            {"type": "Replace", "pattern": {"String": "a"}, "content": "aa"},
            {"type": "Prepend", "prepend": "!"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{P}+"}, "behavior": "Contiguous", "invert": False},
            {"type": "Split", "pattern": {"String": "e"}, "behavior": "MergedWithPrevious", "invert": False},
            {"type": "Split", "pattern": {"Regex": "\\d"}, "behavior": "MergedWithNext", "invert": False},
            {"type": "Split", "pattern": {"Regex": "x+"}, "behavior": "Removed", "invert": False},
            {"type": "Split", "pattern": {"Regex": "[a-z]+"}, "behavior": "MergedWithNext", "invert": True},
            {"type": "Split", "pattern": {"Regex": "\\w+|\\s+"}, "behavior": "Isolated", "invert": False},
            BYTELEVEL]},
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
            {"type": "Replace", "pattern": {"String": "aa"}, "content": "a"},
            {"type": "Strip", "content": "!", "start": 1, "stop": 0}]},
    }),
]


def apply_patch(base_json, patch):
    d = json.loads(base_json)
    for key, value in patch.items():
        if key == "added_tokens_extra":
            d["added_tokens"] = d["added_tokens"] + value
        else:
            d[key] = value
    return json.dumps(d)

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv1a64(data):
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def ids_bytes(ids):
    return struct.pack("<%di" % len(ids), *ids)


def corpus(data_dir):
    """Yields (key, line, turn, text bytes) in fixture order."""
    for key, name, field in SOURCES:
        raw = open(os.path.join(data_dir, name), "rb").read()
        lines = raw.split(b"\n")
        if name.endswith(".jsonl"):
            for i, line in enumerate(lines):
                if not line.strip():
                    continue
                value = json.loads(line)[field]
                if isinstance(value, list):
                    for t, s in enumerate(value):
                        yield key, i, t, s.encode("utf-8")
                else:
                    yield key, i, -1, value.encode("utf-8")
        else:
            for start in range(0, len(lines), TS_CHUNK):
                chunk = lines[start:start + TS_CHUNK]
                text = b"\n".join(chunk)
                if text:
                    yield key, start, len(chunk), text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", required=True, help="models directory (layout of ../shared/models)")
    ap.add_argument("--data", required=True, help="data directory (layout of ../shared/data)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import tokenizers
    from tokenizers import Tokenizer

    os.makedirs(args.out, exist_ok=True)
    texts = list(corpus(args.data))
    toks = {}
    meta = {"python": platform.python_version(), "tokenizers": tokenizers.__version__,
            "fnv": "FNV-1a 64; ids hashed as little-endian int32", "tinystories_chunk_lines": TS_CHUNK,
            "sample_every": SAMPLE_EVERY, "n_texts": len(texts), "tokenizers_files": {}}
    for name, rel in TOKENIZERS:
        path = os.path.join(args.models, rel)
        toks[name] = Tokenizer.from_file(path)
        prefix = toks[name].encode("", add_special_tokens=True).ids
        meta["tokenizers_files"][name] = {"path": rel, "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
                                          "special_prefix": prefix}

    # corpus
    results = {name: [] for name in toks}
    for name, tok in toks.items():
        prefix = meta["tokenizers_files"][name]["special_prefix"]
        for key, line, turn, text in texts:
            s = text.decode("utf-8")
            ids = tok.encode(s, add_special_tokens=False).ids
            with_special = tok.encode(s, add_special_tokens=True).ids
            if with_special != prefix + ids:
                sys.exit("%s: add_special_tokens is not a fixed prefix on %s:%d" % (name, key, line))
            dec = tok.decode(ids, skip_special_tokens=False)
            results[name].append((ids, dec == s, dec.encode("utf-8")))

    # transformers: the ids a researcher gets from the checkpoint
    try:
        import transformers
        from transformers import AutoTokenizer, PreTrainedTokenizerFast
        meta["transformers"] = transformers.__version__
        tf = {"pycode": AutoTokenizer.from_pretrained(os.path.join(args.models, "pycode/pycode-19m")),
              "llama2": PreTrainedTokenizerFast(tokenizer_file=os.path.join(args.models, TOKENIZERS[1][1]))}
        agree = {}
        for name, t in tf.items():
            prefix = meta["tokenizers_files"][name]["special_prefix"]
            same = 0
            for (key, line, turn, text), (ids, _, _) in zip(texts, results[name]):
                same += t(text.decode("utf-8"))["input_ids"] == prefix + ids
            agree[name] = "%d/%d" % (same, len(texts))
        meta["transformers_agrees"] = agree
    except ImportError as e:
        meta["transformers"] = "unavailable: %s" % e

    with open(os.path.join(args.out, "corpus.tsv"), "w") as f:
        f.write("# Reference ids for tests/test_tokenizer_hf.c, written by tools/reference/tokenizer_fixtures.py\n")
        f.write("# tokenizers %s, transformers %s\n" % (meta["tokenizers"], meta.get("transformers")))
        for key, name, field in SOURCES:
            f.write("# source %s %s %s\n" % (key, name, field))
        f.write("# columns: source line turn text_fnv, then for pycode and for llama2: n_ids ids_fnv "
                "roundtrip decoded_fnv ('-' when it round-trips)\n")
        for i, (key, line, turn, text) in enumerate(texts):
            row = [key, str(line), str(turn), "%016x" % fnv1a64(text)]
            for name in toks:
                ids, rt, dec = results[name][i]
                row += [str(len(ids)), "%016x" % fnv1a64(ids_bytes(ids)), "1" if rt else "0",
                        "-" if rt else "%016x" % fnv1a64(dec)]
            f.write("\t".join(row) + "\n")

    with open(os.path.join(args.out, "full_ids.jsonl"), "w") as f:
        for i, (key, line, turn, text) in enumerate(texts):
            f.write(json.dumps({"index": i, "source": key, "line": line, "turn": turn,
                                **{name: results[name][i][0] for name in toks}}) + "\n")

    edges = []
    for ename, raw in EDGE_CASES:
        s = raw.decode("utf-8", errors="replace")
        plain = s.encode("utf-8") == raw and b"\0" not in raw
        entry = {"name": ename, **({"text": s} if plain else {"hex": raw.hex()})}
        for name, tok in toks.items():
            ids = tok.encode(s, add_special_tokens=False).ids
            if tok.encode(s, add_special_tokens=True).ids != meta["tokenizers_files"][name]["special_prefix"] + ids:
                sys.exit("%s: add_special_tokens is not a fixed prefix on edge case %s" % (name, ename))
            dec = tok.decode(ids, skip_special_tokens=False)
            entry[name] = {"ids": ids, "roundtrip": dec == s}
            if dec.encode("utf-8") != raw:
                entry[name]["decoded_hex"] = dec.encode("utf-8").hex()
        edges.append(entry)
    samples = [{"index": i, **{name: results[name][i][0] for name in toks}}
               for i in range(0, len(texts), SAMPLE_EVERY)]

    generated = []
    for gname, kind, n, arg in GENERATED:
        s = generate(kind, n, arg).decode()
        entry = {"name": gname, "kind": kind, "n": n, "arg": arg}
        for name, tok in toks.items():
            ids = tok.encode(s, add_special_tokens=False).ids
            entry[name] = "%d %016x" % (len(ids), fnv1a64(ids_bytes(ids)))
        generated.append(entry)

    # variants: hashes only
    variants, variants_full = [], []
    edge_texts = [raw.decode("utf-8", errors="replace") for _, raw in EDGE_CASES]
    corpus_texts = [text.decode("utf-8") for i, (_, _, _, text) in enumerate(texts) if i % VARIANT_EVERY == 0]
    for vname, base, patch in VARIANTS:
        base_path = os.path.join(args.models, dict(TOKENIZERS)[base])
        try:
            tok = Tokenizer.from_str(apply_patch(open(base_path, encoding="utf-8").read(), patch))
        except Exception as e:  # a variant tokenizers refuses is reported, not fatal
            meta.setdefault("variant_errors", {})[vname] = str(e)
            continue
        rows = {"corpus": [], "edges": []}
        for part, items in (("corpus", corpus_texts), ("edges", edge_texts)):
            for s in items:
                ids = tok.encode(s, add_special_tokens=False).ids
                special = tok.encode(s, add_special_tokens=True).ids
                dec = tok.decode(ids, skip_special_tokens=False).encode("utf-8")
                rows[part].append("%d %016x %016x %016x" % (len(ids), fnv1a64(ids_bytes(ids)),
                                                           fnv1a64(ids_bytes(special)), fnv1a64(dec)))
                variants_full.append({"variant": vname, "part": part, "ids": ids, "special": special})
        variants.append({"name": vname, "base": base, "patch": patch, "corpus_every": VARIANT_EVERY, **rows})
    with open(os.path.join(args.out, "variants_full.jsonl"), "w") as f:
        for v in variants_full:
            f.write(json.dumps(v) + "\n")

    with open(os.path.join(args.out, "samples.json"), "w", encoding="utf-8") as f:
        f.write('{"meta": %s,\n"corpus_samples": [\n' % json.dumps(meta, separators=(",", ":")))
        f.write(",\n".join(json.dumps(s, separators=(",", ":")) for s in samples))
        f.write('],\n"edge_cases": [\n')
        f.write(",\n".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in edges))
        f.write('],\n"generated": [\n')
        f.write(",\n".join(json.dumps(g, separators=(",", ":")) for g in generated))
        f.write('],\n"variants": [\n')
        f.write(",\n".join(json.dumps(v, separators=(",", ":"), ensure_ascii=False) for v in variants))
        f.write("]}\n")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()

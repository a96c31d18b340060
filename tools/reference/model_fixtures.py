#!/usr/bin/env python3
"""Hugging Face reference fixtures for specdec's CPU parity tests (tests/test_model_parity.c).

Runs on the device machine, where torch, transformers and tokenizers are installed:

    python3 tools/reference/model_fixtures.py --models .models \
        --humaneval .models/data/humaneval.jsonl --out tests/fixtures/models

For every model and prompt it writes
  - <model>.<prompt>.f32: the last position's logits of one full forward over the prompt,
    raw little-endian float32, vocab_size values;
  - index.json: the prompts as ids, the 64-token greedy continuation, the top-1/top-2 logit gap
    at every greedy step (to tell a real divergence from a near-tie), versions and checks;
  - humaneval40_pycode_ids.json: [0] + encode(prompt) of the first 40 HumanEval prompts under the
    pycode tokenizer, so C tests get code prompts without a tokenizer.

Everything is fp32 on the CPU: pycode-19m is stored in bf16 and loaded with dtype=float32, so the
reference is fp32 math over the widened bf16 weights, which is what specdec's CPU target computes.

llama2.c checkpoints are parsed here (legacy 7-int header and version-1 "ak42" header) and loaded
into a LlamaForCausalLM. llama2.c rotates interleaved pairs (2i, 2i+1) of each head while HF
rotates (i, i + head_dim/2), so the rows of wq and wk are permuted within each head (the inverse
of llama2.c export.py's permute_reverse). The conversion is checked against an independent torch
forward that uses llama2.c's own interleaved rotation on the unpermuted weights.

Greedy continuations come from model.generate(do_sample=False, max_new_tokens=64, use_cache=True)
with EOS stopping switched off (generation_config.eos_token_id = None), so all 64 tokens come out
even past an EOS, exactly as specdec's test decodes. A second greedy loop that feeds one token per
cached forward must agree with generate; it also yields the per-step logit gaps.
"""
import argparse
import hashlib
import json
import os
import struct
import sys
import traceback

N_NEW = 64
LLAMA2C_MAGIC = 0x616B3432
V1_HEADER_BYTES = 256
ROPE_THETA = 10000.0
LLAMA2C_NORM_EPS = 1e-5

PYCODE_SNIPPET = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n'
STORY_TEXT = "Tom and his dog went to the park"
DREAM_TEXT = "I was flying over a city of glass"
BABY_STORY_TEXT = "The little dog saw a big red ball"

STORIES_EXPECTED = ("Once upon a time, there was a little girl named Lily. "
                    "She loved to play outside in the park.")


# ---------------------------------------------------------------------------------------------
# llama2.c checkpoints and tokenizers (pure Python up to the torch views)

def read_llama2c_header(data):
    """Returns (config dict, header kind, offset of the first weight in bytes, shared classifier)."""
    magic, = struct.unpack_from("<I", data, 0)
    if magic == LLAMA2C_MAGIC:
        version, = struct.unpack_from("<i", data, 4)
        if version != 1:
            raise ValueError(f"llama2.c version {version}: only version 1 is fp32")
        vals = struct.unpack_from("<7i", data, 8)
        shared = struct.unpack_from("<B", data, 36)[0] != 0
        kind, offset = "v1", V1_HEADER_BYTES
    else:
        vals = struct.unpack_from("<7i", data, 0)
        shared = vals[5] > 0
        kind, offset = "legacy", 28
    keys = ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len")
    cfg = dict(zip(keys, vals))
    cfg["vocab_size"] = abs(cfg["vocab_size"])
    return cfg, kind, offset, shared


def llama2c_layout(cfg, kind, shared):
    """The fp32 tensors of a llama2.c file in file order: [(name, shape)]."""
    d, h, L, V = cfg["dim"], cfg["hidden_dim"], cfg["n_layers"], cfg["vocab_size"]
    hs = d // cfg["n_heads"]
    q_dim, kv_dim = cfg["n_heads"] * hs, cfg["n_kv_heads"] * hs
    mats = [("wq", (L, q_dim, d)), ("wk", (L, kv_dim, d)), ("wv", (L, kv_dim, d)),
            ("wo", (L, d, q_dim))]
    ffn = [("w1", (L, h, d)), ("w2", (L, d, h)), ("w3", (L, h, d))]
    if kind == "legacy":
        layout = ([("tok", (V, d)), ("rms_att", (L, d))] + mats + [("rms_ffn", (L, d))] + ffn +
                  [("rms_final", (d,)), ("freq_cis_real", (cfg["seq_len"], hs // 2)),
                   ("freq_cis_imag", (cfg["seq_len"], hs // 2))])
    else:
        layout = ([("rms_att", (L, d)), ("rms_ffn", (L, d)), ("rms_final", (d,)), ("tok", (V, d))] +
                  mats + ffn)
    if not shared:
        layout.append(("wcls", (V, d)))
    return layout


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def llama2c_offsets(path):
    """Parses a llama2.c checkpoint: (bytes, cfg, kind, shared, {name: (byte offset, shape)})."""
    with open(path, "rb") as f:
        data = f.read()
    cfg, kind, offset, shared = read_llama2c_header(data)
    tensors = {}
    for name, shape in llama2c_layout(cfg, kind, shared):
        tensors[name] = (offset, shape)
        offset += 4 * numel(shape)
    if offset != len(data):
        raise ValueError(f"{path}: header implies {offset} bytes, file has {len(data)}")
    return data, cfg, kind, shared, tensors


def rotate_half_row_order(n_heads, head_dim):
    """Source rows that turn an interleaved-RoPE projection into a rotate-half one: within each
    head, new row i takes old row 2i and new row head_dim/2 + i takes old row 2i + 1."""
    order = []
    for hd in range(n_heads):
        base = hd * head_dim
        order += [base + 2 * i for i in range(head_dim // 2)]
        order += [base + 2 * i + 1 for i in range(head_dim // 2)]
    return order


def read_llama2c_tokenizer(path, vocab_size):
    """llama2.c tokenizer.bin: int32 max_token_length, then per token float score, int32 len, bytes."""
    with open(path, "rb") as f:
        data = f.read()
    pos, pieces, scores = 4, [], []
    for _ in range(vocab_size):
        score, n = struct.unpack_from("<fi", data, pos)
        pos += 8
        pieces.append(data[pos:pos + n])
        scores.append(score)
        pos += n
    return pieces, scores


def llama2c_encode(pieces, scores, text):
    """llama2.c run.c encode() without BOS/EOS: a dummy-prefix space, one id per UTF-8 character
    (byte fallback <0xNN> = byte + 3), then repeatedly merge the best-scoring adjacent pair."""
    lookup = {p: i for i, p in enumerate(pieces)}
    ids = []
    for ch in " " + text:
        b = ch.encode("utf-8")
        if b in lookup:
            ids.append(lookup[b])
        else:
            ids += [x + 3 for x in b]
    while True:
        best, best_i = None, -1
        for i in range(len(ids) - 1):
            j = lookup.get(pieces[ids[i]] + pieces[ids[i + 1]])
            if j is not None and (best is None or scores[j] > scores[best]):
                best, best_i = j, i
        if best is None:
            return ids
        ids[best_i:best_i + 2] = [best]


def llama2c_decode(pieces, ids, bos_id=1):
    """llama2.c run.c decode(): strip the leading space after BOS, <0xNN> pieces are raw bytes."""
    out, prev = b"", bos_id
    for t in ids:
        p = pieces[t]
        if prev == bos_id and p.startswith(b" "):
            p = p[1:]
        if len(p) == 6 and p.startswith(b"<0x") and p.endswith(b">"):
            p = bytes([int(p[3:5], 16)])
        out += p
        prev = t
    return out.decode("utf-8", errors="replace")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# torch side

def load_llama2c_weights(path):
    import torch
    data, cfg, kind, shared, offsets = llama2c_offsets(path)
    buf = bytearray(data)
    w = {name: torch.frombuffer(buf, dtype=torch.float32, offset=off, count=numel(shape)).reshape(shape)
         for name, (off, shape) in offsets.items()}
    if shared:
        w["wcls"] = w["tok"]
    return cfg, kind, shared, w


def rope_tables_error(cfg, w):
    """Max |difference| between a legacy file's stored RoPE tables and theta = 10000."""
    import torch
    hs = cfg["dim"] // cfg["n_heads"]
    freqs = 1.0 / ROPE_THETA ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs)
    ang = torch.arange(cfg["seq_len"], dtype=torch.float64)[:, None] * freqs[None, :]
    return max((w["freq_cis_real"].double() - ang.cos()).abs().max().item(),
               (w["freq_cis_imag"].double() - ang.sin()).abs().max().item())


def llama2c_to_hf(run, name, cfg, shared, w):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    hs = cfg["dim"] // cfg["n_heads"]
    hf_cfg = LlamaConfig(
        vocab_size=cfg["vocab_size"], hidden_size=cfg["dim"], intermediate_size=cfg["hidden_dim"],
        num_hidden_layers=cfg["n_layers"], num_attention_heads=cfg["n_heads"],
        num_key_value_heads=cfg["n_kv_heads"], head_dim=hs, max_position_embeddings=cfg["seq_len"],
        rms_norm_eps=LLAMA2C_NORM_EPS, rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA},
        tie_word_embeddings=shared, hidden_act="silu", attention_bias=False,
        mlp_bias=False, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(hf_cfg).to(torch.float32)
    q_order = rotate_half_row_order(cfg["n_heads"], hs)
    k_order = rotate_half_row_order(cfg["n_kv_heads"], hs)
    sd = {"model.embed_tokens.weight": w["tok"], "model.norm.weight": w["rms_final"],
          "lm_head.weight": w["wcls"]}
    for l in range(cfg["n_layers"]):
        p = f"model.layers.{l}."
        sd[p + "input_layernorm.weight"] = w["rms_att"][l]
        sd[p + "post_attention_layernorm.weight"] = w["rms_ffn"][l]
        sd[p + "self_attn.q_proj.weight"] = w["wq"][l][q_order]
        sd[p + "self_attn.k_proj.weight"] = w["wk"][l][k_order]
        sd[p + "self_attn.v_proj.weight"] = w["wv"][l]
        sd[p + "self_attn.o_proj.weight"] = w["wo"][l]
        sd[p + "mlp.gate_proj.weight"] = w["w1"][l]
        sd[p + "mlp.down_proj.weight"] = w["w2"][l]
        sd[p + "mlp.up_proj.weight"] = w["w3"][l]
    model.load_state_dict({k: v.clone() for k, v in sd.items()}, strict=True)
    model.eval()
    run.check(f"{name}: lm_head holds the llama2.c classifier", torch.equal(model.lm_head.weight, w["wcls"]),
              f"tied={shared}")
    inv_freq = getattr(getattr(model.model, "rotary_emb", None), "inv_freq", None)
    expect = 1.0 / ROPE_THETA ** (torch.arange(0, hs, 2, dtype=torch.float32) / hs)
    err = float("inf") if inv_freq is None else (inv_freq.float() - expect).abs().max().item()
    run.check(f"{name}: HF rotary inv_freq is theta {ROPE_THETA}", err < 1e-7, f"max err {err:.3g}")
    return model


def llama2c_reference_forward(cfg, w, ids):
    """llama2.c's math on the file's own weights (interleaved RoPE, no permutation): (T, vocab)."""
    import torch
    T, d = len(ids), cfg["dim"]
    nh, nkv = cfg["n_heads"], cfg["n_kv_heads"]
    hs = d // nh

    def rmsnorm(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + LLAMA2C_NORM_EPS) * g

    freqs = 1.0 / ROPE_THETA ** (torch.arange(0, hs, 2, dtype=torch.float32) / hs)
    ang = torch.arange(T, dtype=torch.float32)[:, None] * freqs[None, :]
    cos, sin = ang.cos()[:, None, :], ang.sin()[:, None, :]

    def rope(v):
        a, b = v[..., 0::2], v[..., 1::2]
        return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).reshape(v.shape)

    mask = torch.full((T, T), float("-inf")).triu(1)
    x = w["tok"][torch.tensor(ids)]
    for l in range(cfg["n_layers"]):
        h = rmsnorm(x, w["rms_att"][l])
        q = rope((h @ w["wq"][l].T).view(T, nh, hs))
        k = rope((h @ w["wk"][l].T).view(T, nkv, hs)).repeat_interleave(nh // nkv, dim=1)
        v = (h @ w["wv"][l].T).view(T, nkv, hs).repeat_interleave(nh // nkv, dim=1)
        att = torch.einsum("thd,shd->hts", q, k) / hs ** 0.5 + mask
        o = torch.einsum("hts,shd->thd", att.softmax(-1), v).reshape(T, nh * hs)
        x = x + o @ w["wo"][l].T
        h = rmsnorm(x, w["rms_ffn"][l])
        x = x + (torch.nn.functional.silu(h @ w["w1"][l].T) * (h @ w["w3"][l].T)) @ w["w2"][l].T
    return rmsnorm(x, w["rms_final"]) @ w["wcls"].T


def greedy_generate(model, ids):
    """transformers' own greedy decoding with EOS stopping off: N_NEW new ids."""
    import torch
    from transformers import GenerationConfig
    model.generation_config.eos_token_id = None
    gc = GenerationConfig(do_sample=False, max_new_tokens=N_NEW, use_cache=True, eos_token_id=None,
                          pad_token_id=0)
    x = torch.tensor([ids])
    out = model.generate(input_ids=x, attention_mask=torch.ones_like(x), generation_config=gc)
    return out[0, len(ids):].tolist()


def greedy_cached_loop(model, ids):
    """One token per cached forward, as specdec decodes: (new ids, top1 - top2 gap per step)."""
    import torch
    out = model(input_ids=torch.tensor([ids]), use_cache=True)
    toks, gaps = [], []
    for _ in range(N_NEW):
        logits = out.logits[0, -1]
        top2 = torch.topk(logits, 2).values
        tok = int(torch.argmax(logits))
        toks.append(tok)
        gaps.append(round(float(top2[0] - top2[1]), 6))
        out = model(input_ids=torch.tensor([[tok]]), past_key_values=out.past_key_values, use_cache=True)
    return toks, gaps


class Run:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.checks = []
        self.models = []

    def check(self, name, ok, detail):
        self.checks.append({"check": name, "ok": bool(ok), "detail": detail})
        print(("PASS " if ok else "FAIL ") + name + ": " + detail, flush=True)

    def reference(self, name, model, prompts, decode, paths, fmt, extra=None):
        """Logits and greedy continuations of one model; prompts: [(label, text or None, ids)]."""
        import torch
        entry = {"name": name, "format": fmt, "paths": paths,
                 "vocab_size": model.config.vocab_size, "prompts": []}
        entry.update(extra or {})
        for label, text, ids in prompts:
            with torch.inference_mode():
                last = model(input_ids=torch.tensor([ids])).logits[0, -1].float().contiguous()
                loop, gaps = greedy_cached_loop(model, ids)
                try:
                    gen = greedy_generate(model, ids)
                except Exception:
                    self.check(f"{name}/{label} model.generate runs", False, traceback.format_exc())
                    gen = []
            fname = f"{name}.{label}.f32"
            with open(os.path.join(self.out_dir, fname), "wb") as f:
                f.write(last.detach().cpu().numpy().astype("<f4").tobytes())
            self.check(f"{name}/{label} generate gives {N_NEW} tokens", len(gen) == N_NEW, f"{len(gen)}")
            self.check(f"{name}/{label} generate == cached loop", gen == loop,
                       "first difference at " + str(next((i for i, (a, b) in enumerate(zip(gen, loop))
                                                          if a != b), None)))
            greedy = gen if len(gen) == N_NEW else loop
            entry["prompts"].append({
                "label": label, "text": text, "ids": ids, "logits_file": fname,
                "logits_argmax": int(torch.argmax(last)), "logits_max": float(last.max()),
                "greedy": greedy, "greedy_text": decode(ids, greedy),
                "greedy_gaps": gaps, "min_gap": min(gaps)})
            print(f"  {name}/{label}: {len(ids)} prompt ids, min gap {min(gaps):.4g}, "
                  f"text {decode(ids, greedy)[:100]!r}", flush=True)
        self.models.append(entry)
        return entry


def pycode_models(run, models_dir, humaneval_path):
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM
    tok = Tokenizer.from_file(os.path.join(models_dir, "pycode", "pycode-19m", "tokenizer.json"))
    probe = tok.encode("x = 1").ids
    run.check("pycode tokenizer adds no special tokens", 0 not in probe, str(probe))
    with open(humaneval_path) as f:
        tasks = [json.loads(line) for line in f if line.strip()]
    he40 = {"tokenizer": "pycode/pycode-19m/tokenizer.json", "rule": "[0] + encode(prompt)",
            "source": "openai/human-eval HumanEval.jsonl, first 40 tasks",
            "task_ids": [t["task_id"] for t in tasks[:40]],
            "prompts": [[0] + tok.encode(t["prompt"]).ids for t in tasks[:40]]}
    with open(os.path.join(run.out_dir, "humaneval40_pycode_ids.json"), "w") as f:
        json.dump(he40, f, separators=(",", ":"))
    prompts = [("bos", "", [0]),
               ("snippet", PYCODE_SNIPPET, [0] + tok.encode(PYCODE_SNIPPET).ids),
               ("humaneval0", tasks[0]["prompt"], he40["prompts"][0])]

    def decode(ids, gen):
        return tok.decode(gen, skip_special_tokens=False)

    for name in ("pycode-19m", "pycode-3m", "pycode-1m"):
        d = os.path.join(models_dir, "pycode", name)
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
        model.eval()
        run.reference(name, model, prompts, decode, [f"pycode/{name}"], "hf",
                      {"sha256": {"model.safetensors": sha256_file(os.path.join(d, "model.safetensors"))}})


def llama2c_model(run, models_dir, name, rels, tokenizer_rel, prompt_label, prompt_text, sp_model=None):
    """Converts each llama2.c file in rels (the same weights under different headers), checks the
    conversion, and writes one reference for all of them."""
    import torch
    loaded = [load_llama2c_weights(os.path.join(models_dir, r)) for r in rels]
    cfg, kind, shared, w = loaded[0]
    for r, (cfg2, kind2, _, w2) in zip(rels[1:], loaded[1:]):
        same = cfg2 == cfg and all(torch.equal(w[k], w2[k]) for k in w2 if k in w)
        run.check(f"{name}: {rels[0]} ({kind}) and {r} ({kind2}) hold the same weights", same, str(cfg2))
    for r, (c, k, _, wl) in zip(rels, loaded):
        if k == "legacy":
            err = rope_tables_error(c, wl)
            run.check(f"{name}: {r} stored RoPE tables are theta {ROPE_THETA}", err < 1e-5, f"max err {err:.3g}")

    if sp_model:
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=os.path.join(models_dir, sp_model))
        run.check(f"{name}: sentencepiece vocab matches", sp.get_piece_size() == cfg["vocab_size"],
                  f"{sp.get_piece_size()} vs {cfg['vocab_size']}")
        text_ids = sp.encode(prompt_text)

        def decode(ids, gen):
            return sp.decode(ids[1:] + gen)
    else:
        pieces, scores = read_llama2c_tokenizer(os.path.join(models_dir, tokenizer_rel), cfg["vocab_size"])
        text_ids = llama2c_encode(pieces, scores, prompt_text)

        def decode(ids, gen):
            return llama2c_decode(pieces, ids[1:] + gen)

    model = llama2c_to_hf(run, name, cfg, shared, w)
    prompts = [("bos", "", [1]), (prompt_label, prompt_text, [1] + text_ids)]
    with torch.inference_mode():
        for label, _, ids in prompts:
            ref = llama2c_reference_forward(cfg, w, ids)
            hf = model(input_ids=torch.tensor([ids])).logits[0]
            err = (ref - hf).abs().max().item()
            run.check(f"{name}/{label}: HF conversion == llama2.c interleaved-RoPE forward",
                      err < 1e-4, f"max |dlogit| {err:.3g} over {len(ids)} positions")
    hdr = {"config": cfg, "shared_classifier": shared, "tokenizer": tokenizer_rel or sp_model,
           "sha256": {os.path.basename(r): sha256_file(os.path.join(models_dir, r)) for r in rels}}
    return run.reference(name, model, prompts, decode, rels, "llama2c", hdr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", required=True, help="models directory (layout of ../shared/models)")
    ap.add_argument("--humaneval", required=True, help="humaneval.jsonl")
    ap.add_argument("--out", required=True, help="fixture directory to write")
    args = ap.parse_args()

    import tokenizers
    import torch
    import transformers
    torch.manual_seed(0)
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    os.makedirs(args.out, exist_ok=True)
    run = Run(args.out)

    def stories():
        entry = llama2c_model(run, args.models, "stories260K",
                              ["tinystories-llama2c/tinystories_260k/checkpoint_legacy.bin",
                               "tinystories-llama2c/tinystories_260k/checkpoint_v1.bin"],
                              "tinystories-llama2c/tinystories_260k/tokenizer.bin", "story", STORY_TEXT)
        text = entry["prompts"][0]["greedy_text"]
        run.check("stories260K greedy from BOS starts with the known story", text.startswith(STORIES_EXPECTED),
                  repr(text[:120]))

    jobs = [("pycode", lambda: pycode_models(run, args.models, args.humaneval)),
            ("stories260K", stories),
            ("aidreams260K", lambda: llama2c_model(run, args.models, "aidreams260K",
                                                   ["aidreams-esp32/aidreams260K.bin"],
                                                   "aidreams-esp32/tok512.bin", "dream", DREAM_TEXT)),
            ("babyllama-tok105", lambda: llama2c_model(run, args.models, "babyllama-tok105",
                                                       ["babyllama-en10/tok105/model5000.bin"], None, "story",
                                                       BABY_STORY_TEXT,
                                                       sp_model="babyllama-en10/tok105/tok105.model"))]
    # One failing family must not cost the others their fixtures: the device run is scarce.
    for name, job in jobs:
        try:
            job()
        except Exception:
            run.check(f"{name} reference", False, traceback.format_exc())

    index = {
        "generated_by": "tools/reference/model_fixtures.py",
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "transformers": transformers.__version__, "tokenizers": tokenizers.__version__},
        "device": "cpu, float32",
        "n_new": N_NEW,
        "logits": "last prompt position, one forward over the whole prompt, little-endian float32 (vocab_size)",
        "greedy": ("model.generate(do_sample=False, max_new_tokens=64, use_cache=True) with EOS stopping "
                   "off: all 64 tokens, EOS included when it is the argmax; greedy_gaps[i] is top1 - top2 "
                   "logit at step i"),
        "tolerance": {"max_abs_logit": 1e-3},
        "checks": run.checks,
        "models": run.models,
    }
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    failed = [c["check"] for c in run.checks if not c["ok"]]
    print(f"{len(run.checks) - len(failed)}/{len(run.checks)} checks passed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

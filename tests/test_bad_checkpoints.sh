#!/usr/bin/env bash
# Bad checkpoints and prompts: `specdec generate` must stop with a user error (exit status 2, from
# fatal()) and exactly one stderr line that names the file and the problem; never a crash, never an
# out-of-bounds read (ctest runs this under the ASan build too). Each broken input is built in a
# temporary directory from the real models; the unbroken originals must generate, so that every
# failure below is the broken part's doing.
# Usage: bash tests/test_bad_checkpoints.sh path/to/specdec
set -euo pipefail

SPECDEC=${1:?usage: test_bad_checkpoints.sh path/to/specdec}
SRC=$(cd "$(dirname "$0")/.." && pwd)
MODELS=${SPECDEC_MODELS:-$SRC/../shared/models}
PYCODE=$MODELS/pycode/pycode-1m
STORIES=$MODELS/tinystories-llama2c/tinystories_260k
AIDREAMS=$MODELS/aidreams-esp32/aidreams260K.bin

for f in "$PYCODE/model.safetensors" "$STORIES/checkpoint_legacy.bin" "$STORIES/checkpoint_v1.bin" "$AIDREAMS"; do
    [ -f "$f" ] || { echo "test_bad_checkpoints: $f not found (set SPECDEC_MODELS)"; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
    echo "FAIL $1"
    failures=$((failures + 1))
}

# run NAME ARGS...: specdec generate ARGS --max-new-tokens 1; status in $rc, stderr in $tmp/NAME.err
run() {
    local name=$1
    shift
    rc=0
    "$SPECDEC" generate "$@" --max-new-tokens 1 >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
}

expect_ok() {
    local name=$1
    shift
    run "$name" "$@"
    if [ "$rc" -eq 0 ]; then echo "ok   $name: generates"; else fail "$name: exit $rc: $(head -c 300 "$tmp/$name.err")"; fi
}

# expect_error NAME FILE PROBLEM ARGS...: exit 2, one stderr line containing FILE and, once paths are
# taken out of it, matching the extended regex PROBLEM (case-insensitive).
expect_error() {
    local name=$1 file=$2 problem=$3
    shift 3
    run "$name" "$@"
    local err=$tmp/$name.err lines
    lines=$(awk 'END { print NR }' "$err")
    sed -E "s#/[^ :']*##g" "$err" >"$tmp/$name.words"
    if [ "$rc" -ne 2 ]; then
        fail "$name: exit status $rc, expected 2; stderr: $(head -c 600 "$err")"
    elif [ "$lines" -ne 1 ]; then
        fail "$name: $lines stderr lines, expected 1: $(head -c 600 "$err")"
    elif ! grep -qF -- "$file" "$err"; then
        fail "$name: the message does not name $file: $(cat "$err")"
    elif ! grep -qiE -- "$problem" "$tmp/$name.words"; then
        fail "$name: the message does not say /$problem/: $(cat "$err")"
    else
        echo "ok   $name: $(cat "$err")"
    fi
}

# hf_dir NAME: a copy of pycode-1m's files other than the weights; prints its path
hf_dir() {
    mkdir -p "$tmp/$1"
    cp "$PYCODE/config.json" "$PYCODE/tokenizer.json" "$PYCODE/tokenizer_config.json" "$tmp/$1/"
    echo "$tmp/$1"
}

# safetensors MODE SRC DST: rewrites SRC's header as MODE says (the data stays as it is)
safetensors() {
    python3 - "$@" <<'EOF'
import json, struct, sys
mode, src, dst = sys.argv[1:4]
raw = open(src, "rb").read()
n, = struct.unpack_from("<Q", raw, 0)
header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
name = "model.norm.weight"
if mode == "offsets-outside":
    begin = len(data) - 4              # starts inside the data, ends past the end of the file
    header[name]["data_offsets"] = [begin, begin + 4 * header[name]["shape"][0]]
elif mode == "unknown-dtype":
    header[name]["dtype"] = "Q7"
elif mode == "missing-tensor":
    del header[name]
text = b"{\"model.norm.weight\": {\"dtype\": \"F32\", not json" if mode == "not-json" else json.dumps(header).encode()
length = len(text)
if mode == "length-past-end":
    length = len(text) + len(data) + 1  # one byte more than the file holds after the length field
elif mode == "length-huge":
    length = 2**64 - 1                 # 8 + length wraps around in 64-bit arithmetic
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", length) + text + data)
EOF
}

# The originals generate.
good=$(hf_dir good)
cp "$PYCODE/model.safetensors" "$good/"
expect_ok pycode-1m-copy --target "$good" --prompt-ids 0
expect_ok stories260K-legacy --target "$STORIES/checkpoint_legacy.bin" --prompt-ids 1
expect_ok stories260K-v1 --target "$STORIES/checkpoint_v1.bin" --prompt-ids 1
ids100=$(seq -s, 100 199)
expect_ok aidreams260K-100-ids --target "$AIDREAMS" --prompt-ids "$ids100"

# Safetensors headers and tensors.
for mode in length-past-end length-huge not-json offsets-outside unknown-dtype missing-tensor; do
    dir=$(hf_dir "$mode")
    safetensors "$mode" "$PYCODE/model.safetensors" "$dir/model.safetensors"
done
expect_error header-length-past-end "$tmp/length-past-end/model.safetensors" "header.*(past|end|beyond|exceed)" \
    --target "$tmp/length-past-end" --prompt-ids 0
expect_error header-length-2^64-1 "$tmp/length-huge/model.safetensors" "header.*(past|end|beyond|exceed)" \
    --target "$tmp/length-huge" --prompt-ids 0
expect_error header-not-json "$tmp/not-json/model.safetensors" "json" --target "$tmp/not-json" --prompt-ids 0
expect_error tensor-offsets-outside-file "$tmp/offsets-outside/model.safetensors" "offset" \
    --target "$tmp/offsets-outside" --prompt-ids 0
expect_error unknown-dtype "$tmp/unknown-dtype/model.safetensors" "dtype" --target "$tmp/unknown-dtype" --prompt-ids 0
expect_error missing-tensor "$tmp/missing-tensor" "missing.*model\.norm\.weight|model\.norm\.weight.*missing" \
    --target "$tmp/missing-tensor" --prompt-ids 0
head -c 5 "$PYCODE/model.safetensors" >"$(hf_dir short)/model.safetensors"
expect_error safetensors-shorter-than-8-bytes "$tmp/short/model.safetensors" "short|header|size" \
    --target "$tmp/short" --prompt-ids 0

# config.json against the tensors: pycode-1m's MLP is 256 wide.
dir=$(hf_dir shape)
cp "$PYCODE/model.safetensors" "$dir/"
python3 - "$dir/config.json" <<'EOF'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["intermediate_size"] = 320
json.dump(cfg, open(sys.argv[1], "w"))
EOF
expect_error shape-disagrees-with-config "$dir" "shape" --target "$dir" --prompt-ids 0

mkdir -p "$tmp/no-config"
cp "$PYCODE/model.safetensors" "$PYCODE/tokenizer.json" "$tmp/no-config/"
expect_error missing-config.json "$tmp/no-config" "config\.json" --target "$tmp/no-config" --prompt-ids 0

# llama2.c files whose size disagrees with their header, both header versions; and too short a file.
cp "$STORIES/tokenizer.bin" "$tmp/"
head -c -100 "$STORIES/checkpoint_legacy.bin" >"$tmp/legacy_truncated.bin"
expect_error llama2c-legacy-truncated "$tmp/legacy_truncated.bin" "size|bytes" \
    --target "$tmp/legacy_truncated.bin" --prompt-ids 1
{ cat "$STORIES/checkpoint_v1.bin"; printf 'tail'; } >"$tmp/v1_padded.bin"
expect_error llama2c-v1-longer "$tmp/v1_padded.bin" "size|bytes" --target "$tmp/v1_padded.bin" --prompt-ids 1
head -c 20 "$STORIES/checkpoint_legacy.bin" >"$tmp/legacy_20_bytes.bin"
expect_error llama2c-shorter-than-header "$tmp/legacy_20_bytes.bin" "short|header|size" \
    --target "$tmp/legacy_20_bytes.bin" --prompt-ids 1

# A prompt longer than the context: aidreams260K's seq_len is 128.
ids200=$(seq -s, 100 299)
expect_error prompt-longer-than-context "aidreams260K.bin" "context" --target "$AIDREAMS" --prompt-ids "$ids200"

if [ "$failures" -ne 0 ]; then
    echo "test_bad_checkpoints: FAILED ($failures failures)"
    exit 1
fi
echo "test_bad_checkpoints: ok"

#!/usr/bin/env bash
# specdec tokenize from the command line: ids of a known string (the reference ids of
# tests/fixtures/tokenizer/samples.json, edge case "hello_world") with and without BOS for both
# tokenizer.json files, --tokenizer without a model, --decode round trips, and bad input giving
# exactly one error line and exit status 2.
source "$(dirname "$0")/cli_lib.sh" "$1"
pycode="$models/pycode/pycode-19m"
llama="$models/tinystories-llama2c/llama2-tokenizer/tokenizer.json"
if ! "$bin" tokenize --help >/dev/null 2>&1; then
  echo "FAIL: $bin has no tokenize command (experiments/main.c must list cmd_tokenize)"; exit 1
fi

expect_ids() { # description, expected ids, then the arguments; "Hello world" on stdin
  local what="$1" want="$2"; shift 2
  local got
  got=$(printf 'Hello world' | "$bin" tokenize "$@" 2>"$tmp/err")
  [ "$got" = "$want" ] || { echo "FAIL: $what: got '$got', expected '$want' $(cat "$tmp/err")"; fail=1; }
}
expect_ids "pycode --target" "0 6891 311 6828" --target "$pycode"
expect_ids "pycode --target by name" "0 6891 311 6828" --target pycode/pycode-19m
expect_ids "pycode --target --no-bos" "6891 311 6828" --target "$pycode" --no-bos
expect_ids "pycode --tokenizer alone" "0 6891 311 6828" --tokenizer "$pycode/tokenizer.json"
expect_ids "pycode --tokenizer --no-bos" "6891 311 6828" --tokenizer "$pycode/tokenizer.json" --no-bos
expect_ids "llama2 --tokenizer" "1 15043 3186" --tokenizer "$llama"
expect_ids "llama2 --tokenizer --no-bos" "15043 3186" --tokenizer "$llama" --no-bos
got=$(printf '' | "$bin" tokenize --tokenizer "$llama" 2>&1)
[ "$got" = "1" ] || { echo "FAIL: empty text should be just BOS, got '$got'"; fail=1; }

# decode(encode(x)) == x, byte for byte, through the command line
printf 'def f(x):\n\treturn "h\xc3\xa9llo"  # \xf0\x9f\x8c\x8d \xe4\xbd\xa0\xe5\xa5\xbd\n\n' >"$tmp/text"
for tok in "$pycode/tokenizer.json" "$llama"; do
  "$bin" tokenize --tokenizer "$tok" --no-bos <"$tmp/text" >"$tmp/ids" 2>"$tmp/err" &&
    "$bin" tokenize --tokenizer "$tok" --decode <"$tmp/ids" >"$tmp/back" 2>>"$tmp/err"
  cmp -s "$tmp/text" "$tmp/back" || { echo "FAIL: --decode round trip with $tok: $(cat "$tmp/back") $(cat "$tmp/err")"; fail=1; }
done

# a tokenizer.json of our own: no pre-tokenizer, no decoder (tokens joined with spaces), no BOS
cat >"$tmp/tiny.json" <<'EOF'
{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}
EOF
got=$(printf 'abba' | "$bin" tokenize --tokenizer "$tmp/tiny.json" 2>&1)
[ "$got" = "2 1 0" ] || { echo "FAIL: tiny tokenizer: got '$got', expected '2 1 0'"; fail=1; }
got=$(printf '2 1 0' | "$bin" tokenize --tokenizer "$tmp/tiny.json" --decode 2>&1)
[ "$got" = "ab b a" ] || { echo "FAIL: tiny tokenizer decode: got '$got', expected 'ab b a'"; fail=1; }

expect_error() { # description, text the error must hold, stdin, then the arguments
  local what="$1" needle="$2" input="$3"; shift 3
  expect_fatal "$what" "$needle" "$bin" tokenize "$@" < <(printf '%s' "$input")
}
bad_json() { # file name, then the JSON
  printf '%s' "$2" >"$tmp/$1"
}
expect_error "unknown flag" "--bogus" "x" --tokenizer "$llama" --bogus
expect_error "missing value" "--tokenizer" "x" --tokenizer
expect_error "no tokenizer" "--target" "x"
expect_error "missing tokenizer file" "nope.json" "x" --tokenizer "$tmp/nope.json"
expect_error "missing model" "no-such-model" "x" --target no-such-model
bad_json notjson.json '{"model": '
expect_error "not JSON" "not valid JSON" "x" --tokenizer "$tmp/notjson.json"
model='"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}'
bad_json pre.json "{$model, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}"
expect_error "unsupported pre-tokenizer" '"Whitespace"' "x" --tokenizer "$tmp/pre.json"
bad_json seq.json "{$model, \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\"}]}}"
expect_error "unsupported pre-tokenizer in a sequence" 'pre_tokenizer.pretokenizers[0]: pre-tokenizer type "Digits"' "x" --tokenizer "$tmp/seq.json"
bad_json norm.json "{$model, \"normalizer\": {\"type\": \"NFC\"}}"
expect_error "unsupported normalizer" '"NFC"' "x" --tokenizer "$tmp/norm.json"
bad_json dec.json "{$model, \"decoder\": {\"type\": \"CTC\"}}"
expect_error "unsupported decoder" '"CTC"' "x" --tokenizer "$tmp/dec.json"
bad_json post.json "{$model, \"post_processor\": {\"type\": \"RobertaProcessing\"}}"
expect_error "unsupported post-processor" '"RobertaProcessing"' "x" --tokenizer "$tmp/post.json"
bad_json wp.json '{"model": {"type": "WordPiece", "vocab": {"a": 0}}}'
expect_error "unsupported model" '"WordPiece"' "x" --tokenizer "$tmp/wp.json"
bad_json merge.json '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a c"]}}'
expect_error "merge of an unknown token" 'model.merges[0]' "x" --tokenizer "$tmp/merge.json"
bad_json regex.json "{$model, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\", \"invert\": false}}"
expect_error "bad regex" 'does not compile' "x" --tokenizer "$tmp/regex.json"
expect_error "decode: not an id" "abc" "12 abc" --tokenizer "$llama" --decode
expect_error "decode: id out of range" "32000" "1 32000" --tokenizer "$llama" --decode
expect_error "decode: negative id" "-1" "-1" --tokenizer "$llama" --decode

exit $fail

#!/usr/bin/env bash
# The CUDA backend on the device machine, in one call: build, tests, memcheck, benchmarks.
#
#   bash tests/gpu/run.sh [all|tests|bench|bench-big]      (default: all = tests + bench)
#
# tests      test_cuda_logits, test_cuda_greedy, test_cuda_sampling (tests/gpu/*.c) and
#            compute-sanitizer memcheck on short speculative generations (greedy and sampled,
#            device drafter and host drafter)
# bench      specdec bench on pycode-19m (drafters pycode-3m, lookup:4, ngram:3) and on a
#            random-weight Llama-3.2-1B shape, writing results/bench-style JSON
# bench-big  also the Llama-3.1-8B shape (a 16 GB synth: minutes of disk time)
#
# Models come from $SPECDEC_MODELS (default .models: copies of ../shared/models carried to the
# machine), prompts from $SPECDEC_DATA (default .models/data). Logs and bench JSON go to
# build-gpu/logs, and as one tarball to $OUT when it is set (the device tool returns at most 8
# files). Debian packages the build needs and the machine lacks are unpacked from
# $SPECDEC_DEBS/*.deb (default .models/gpu-deps; apt-get download them where there is a network).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
MODE=${1:-all}
BUILD=$ROOT/build-gpu
LOGS=$BUILD/logs
rm -rf "$LOGS"
mkdir -p "$LOGS/bench"
export SPECDEC_MODELS=${SPECDEC_MODELS:-$ROOT/.models}
export SPECDEC_DATA=${SPECDEC_DATA:-$ROOT/.models/data}
DEBS=${SPECDEC_DEBS:-$ROOT/.models/gpu-deps}
failed=()

step() { echo; echo "=== $* ($(date +%H:%M:%S))"; }
run_logged() { # name, command...: runs with its output in $LOGS/name.log; records a failure
    local name=$1; shift
    step "$name"
    "$@" 2>&1 | tee "$LOGS/$name.log"
    local rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || { echo "--- $name FAILED (exit $rc)"; failed+=("$name"); }
    return 0
}

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv
nvcc --version | tail -1

if ! command -v pkg-config >/dev/null || ! pkg-config --exists libcjson libpcre2-8 || [ ! -f /usr/include/uthash.h ]; then
    step "unpacking missing build dependencies"
    for deb in "$DEBS"/*.deb; do
        pkg=$(dpkg-deb -f "$deb" Package)
        dpkg -s "$pkg" >/dev/null 2>&1 || { echo "  $pkg"; dpkg -x "$deb" /; }
    done
    ldconfig
fi

step "build"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSPECDEC_CUDA=ON >"$LOGS/cmake.log" 2>&1 || { cat "$LOGS/cmake.log"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" >"$LOGS/build.log" 2>&1 || { grep -E "error|Error" "$LOGS/build.log" | head -40; exit 1; }
grep -E "warning" "$LOGS/build.log" | head -20
SPECDEC=$BUILD/specdec

if [ "$MODE" = all ] || [ "$MODE" = tests ]; then
    step "GPU tests: compile"
    libs="$(pkg-config --libs libcjson libpcre2-8) -lcublas -Xcompiler -fopenmp -lm"
    for src in tests/gpu/test_*.c; do
        name=$(basename "$src" .c)
        cc -std=c11 -O2 -Wall -Wextra -Wno-unused-parameter -fopenmp -DSPECDEC_HAVE_CUDA=1 \
            -DSPECDEC_SOURCE_DIR="\"$ROOT\"" -Itarget -Ingram -Isamplers -Idrafters -Iexperiments -Itests \
            $(pkg-config --cflags libcjson) -c "$src" -o "$BUILD/$name.o" &&
            nvcc -o "$BUILD/$name" "$BUILD/$name.o" "$BUILD/libspecdec_core.a" $libs ||
            failed+=("compile $name")
    done
    for t in test_cuda_logits test_cuda_greedy test_cuda_sampling; do
        [ -x "$BUILD/$t" ] && run_logged "$t" timeout 900 "$BUILD/$t"
    done
    memcheck() { # name, generate options...
        local name=$1; shift
        run_logged "memcheck_$name" compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
            "$SPECDEC" generate --target pycode/pycode-19m --device cuda --max-new-tokens 24 \
            --prompt-ids 0,4299,12,7,8,25 --json "$@"
    }
    memcheck spec_model_greedy --decoder spec --drafter model:pycode/pycode-3m --gamma 4
    memcheck spec_model_sampled --decoder spec --drafter model:pycode/pycode-3m --gamma 4 --temperature 0.8 \
        --top-k 40 --top-p 0.9 --repetition-penalty 1.2 --egag --gamma-min 1 --gamma-max 6
    memcheck spec_ngram_sampled --decoder spec --drafter ngram:3 --gamma 4 --temperature 1 --filler-top-k 2
    memcheck ar_sampled --decoder ar --temperature 1 --top-k 20
fi

if [ "$MODE" = all ] || [ "$MODE" = bench ] || [ "$MODE" = bench-big ]; then
    bench() { # name, bench options...
        local name=$1; shift
        run_logged "bench_$name" "$SPECDEC" bench --device cuda --out "$LOGS/bench/$name.json" "$@"
    }
    bench pycode-19m_cuda_pycode-3m --target pycode/pycode-19m --drafter model:pycode/pycode-3m --gammas 1,2,3,4,5,6,8
    bench pycode-19m_cuda_lookup-4 --target pycode/pycode-19m --drafter lookup:4 --gammas 2,4,6,8,12,16
    bench pycode-19m_cuda_ngram-3 --target pycode/pycode-19m --drafter ngram:3 --gammas 2,4,6,8
    synth=/tmp/specdec-synth
    run_logged synth_llama-1b "$SPECDEC" synth --shape llama-1b --dtype bf16 --out "$synth/llama-1b"
    bench llama-1b_cuda --target "$synth/llama-1b" --name llama-1b --context 128
    bench llama-1b_cuda_ctx1024 --target "$synth/llama-1b" --name llama-1b --context 1024
    if [ "$MODE" = bench-big ]; then
        run_logged synth_llama-8b "$SPECDEC" synth --shape llama-8b --dtype bf16 --out "$synth/llama-8b"
        bench llama-8b_cuda --target "$synth/llama-8b" --name llama-8b --context 128
    fi
fi

step "summary"
[ -n "${OUT:-}" ] && tar -czf "$OUT/gpu_logs.tgz" -C "$LOGS" .
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all passed"

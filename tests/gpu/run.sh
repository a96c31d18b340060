#!/usr/bin/env bash
# The CUDA backend on the device machine, in one call: build, tests, memcheck, benchmarks.
#
#   bash tests/gpu/run.sh [kernels] [tests|quick] [bench] [share] [variants] [big] [profile] [none]
#                                                                         (default: tests bench)
#
# tests      test_cuda_logits, test_cuda_greedy, test_cuda_sampling (tests/gpu/*.c),
#            compute-sanitizer memcheck on short speculative generations (greedy and sampled,
#            device drafter and host drafter, draft-ahead), and tools/kernel_bench check (the
#            tensor-core projection kernel against the CUDA-core one)
# quick      the short form of tests for a tight device budget: logits, greedy parity (draft-ahead
#            included), one memcheck run and the projection kernels' check
# bench      specdec bench on pycode-19m (drafters pycode-3m with and without --draft-ahead 2 and 3,
#            pycode-3m@bf16, lookup:4, ngram:3;
#            cuBLAS projections for comparison), a per-round trace, and a random-weight Llama-3.2-1B
#            shape (fused, cuBLAS, CUDA-core, one block per classifier tile, only the classifier's
#            tiles paired)
# share      each launch's share of a Llama-1B forward in graphs: bench with SPECDEC_CUDA_SKIP
#            leaving out the qkv, attention, o, gate/up, down or classifier launches in turn
# variants   Llama-1B and pycode-19m decode under each timing setting ($VARIANTS, NAME=VALUE words;
#            default: SPECDEC_CUDA_PDL, _GEMV_WARPS, _ATT_SPLITS, _GEMV_PAIR, _GEMV_INTERLEAVE,
#            _ATT_EARLY), alternating $VARIANT_ROUNDS times (default 2) in one call, with a table at the
#            end
# big        the Llama-3.1-8B shape (a 16 GB synth)
# kernels    tools/kernel_bench time: per-kernel timings in graphs (projections of pycode-19m and
#            Llama-1B shapes, attention at every split count)
# profile    Nsight Compute kernel durations of pycode-19m and Llama-1B forwards, and the sections
#            (speed of light, memory, warp states, occupancy) of one Llama-1B layer (ncu_*.csv)
# none       the build only
#
# Models come from $SPECDEC_MODELS (default .models: copies of ../shared/models carried to the
# machine), prompts from $SPECDEC_DATA (default .models/data). Logs and bench JSON go to
# build-gpu/logs, and as one tarball to $OUT when it is set (the device tool returns at most 8
# files). Debian packages the build needs and the machine lacks are unpacked from
# $SPECDEC_DEBS/*.deb (default .models/gpu-deps; apt-get download them where there is a network).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
MODES=" ${*:-tests bench} "
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

if [[ $MODES == *" tests "* || $MODES == *" quick "* ]]; then
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
    # every shared model that was carried (the device call's 64 MiB may not hold them all)
    models=()
    for m in pycode/pycode-19m pycode/pycode-3m pycode/pycode-1m tinystories-llama2c/tinystories_260k/checkpoint_legacy.bin \
        tinystories-llama2c/tinystories_260k/checkpoint_v1.bin aidreams-esp32/aidreams260K.bin \
        babyllama-en10/tok105/model5000.bin; do
        if [ -e "$SPECDEC_MODELS/$m" ]; then models+=("$m"); else echo "not carried, not checked: $m"; fi
    done
    [ -x "$BUILD/test_cuda_logits" ] && run_logged test_cuda_logits timeout 300 "$BUILD/test_cuda_logits" "${models[@]}"
    tests=(test_cuda_greedy)
    [[ $MODES == *" tests "* ]] && tests+=(test_cuda_sampling)
    for t in "${tests[@]}"; do
        [ -x "$BUILD/$t" ] && run_logged "$t" timeout 600 "$BUILD/$t"
    done
    memcheck() { # name, generate options...
        local name=$1; shift
        run_logged "memcheck_$name" timeout 300 compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 \
            "$SPECDEC" generate --target pycode/pycode-19m --device cuda --max-new-tokens 24 \
            --prompt-ids 0,4299,12,7,8,25 --json "$@"
    }
    memcheck spec_model_ahead --decoder spec --drafter model:pycode/pycode-3m --gamma 4 --draft-ahead 3
    run_logged kernel_check "$BUILD/kernel_bench" check
fi
if [[ $MODES == *" tests "* ]]; then
    memcheck spec_model_greedy --decoder spec --drafter model:pycode/pycode-3m --gamma 4
    memcheck spec_model_sampled --decoder spec --drafter model:pycode/pycode-3m --gamma 4 --temperature 0.8 \
        --top-k 40 --top-p 0.9 --repetition-penalty 1.2 --egag --gamma-min 1 --gamma-max 6
    memcheck spec_ngram_sampled --decoder spec --drafter ngram:3 --gamma 4 --temperature 1 --filler-top-k 2
    memcheck ar_sampled --decoder ar --temperature 1 --top-k 20
fi

if [[ $MODES == *" kernels "* ]]; then
    run_logged kernel_bench timeout 600 "$BUILD/kernel_bench" time
fi

bench() { # name, bench options...
    local name=$1; shift
    run_logged "bench_$name" timeout 150 "$SPECDEC" bench --device cuda --out "$LOGS/bench/$name.json" "$@"
}
synth=/tmp/specdec-synth
synth_llama_1b() { # the random-weight Llama-3.2-1B shape, written once per machine
    [ -d "$synth/llama-1b" ] || run_logged synth_llama-1b "$SPECDEC" synth --shape llama-1b --dtype bf16 --out "$synth/llama-1b"
}
mkdir -p "$synth"
if [[ $MODES == *" bench "* ]]; then
    bench pycode-19m_cuda_pycode-3m --target pycode/pycode-19m --drafter model:pycode/pycode-3m --gammas 1,2,3,4,5,6,8
    bench pycode-19m_cuda_pycode-3m-ahead2 --target pycode/pycode-19m --drafter model:pycode/pycode-3m --gammas 1,2,3,4,6 \
        --draft-ahead 2
    bench pycode-19m_cuda_pycode-3m-ahead3 --target pycode/pycode-19m --drafter model:pycode/pycode-3m --gammas 2,3,4 \
        --draft-ahead 3
    bench pycode-19m_cuda_pycode-3m-bf16 --target pycode/pycode-19m --drafter model:pycode/pycode-3m@bf16 --gammas 3,4,5,6
    bench pycode-19m_cuda_lookup-4 --target pycode/pycode-19m --drafter lookup:4 --gammas 2,4,6,8,12,15
    bench pycode-19m_cuda_ngram-3 --target pycode/pycode-19m --drafter ngram:3 --gammas 2,4,6,8
    SPECDEC_CUDA_FUSED_ROWS=0 bench pycode-19m_cuda_cublas --target pycode/pycode-19m --drafter model:pycode/pycode-3m \
        --gammas 3,4
    SPECDEC_CUDA_GEMV=simt bench pycode-19m_cuda_simt --target pycode/pycode-19m --drafter model:pycode/pycode-3m \
        --gammas 3,4,5
    # one prompt round by round: drafter and target milliseconds per round
    ids=$(python3 -c "import json; print(','.join(map(str, json.load(open('tests/fixtures/models/humaneval40_pycode_ids.json'))['prompts'][0])))")
    run_logged trace_pycode-3m "$SPECDEC" generate --target pycode/pycode-19m --device cuda --decoder spec \
        --drafter model:pycode/pycode-3m --gamma 4 --max-new-tokens 128 --prompt-ids "$ids" --json \
        --trace "$LOGS/trace_pycode-3m.jsonl"
    synth_llama_1b
    bench llama-1b_cuda --target "$synth/llama-1b" --name llama-1b --context 128
    SPECDEC_CUDA_FUSED_ROWS=0 bench llama-1b_cuda_cublas --target "$synth/llama-1b" --name llama-1b --context 128
    SPECDEC_CUDA_GEMV=simt SPECDEC_CUDA_FUSED_ROWS=16 bench llama-1b_cuda_simt --target "$synth/llama-1b" --name llama-1b \
        --context 128
    bench llama-1b_cuda_ctx1024 --target "$synth/llama-1b" --name llama-1b --context 1024
    SPECDEC_CUDA_GEMV_PERSISTENT=0 bench llama-1b_cuda_1pertile --target "$synth/llama-1b" --name llama-1b --context 128
    # only the classifier's tiles paired (gate/up single): faster decode, slower verification
    SPECDEC_CUDA_GEMV_PAIR=4096 bench llama-1b_cuda_pair4096 --target "$synth/llama-1b" --name llama-1b --context 128
fi
if [[ $MODES == *" share "* ]]; then
    synth_llama_1b
    for skip in 0 1 2 4 8 16 32; do
        SPECDEC_CUDA_SKIP=$skip bench llama-1b_cuda_skip$skip --target "$synth/llama-1b" --name llama-1b --context 128
    done
fi
if [[ $MODES == *" variants "* ]]; then
    synth_llama_1b
    # timing settings, the default first (SPECDEC_CUDA_PDL=1 spells it out)
    # shellcheck disable=SC2206 # NAME=VALUE words, split on blanks
    variants=(${VARIANTS:-SPECDEC_CUDA_PDL=1 SPECDEC_CUDA_PDL=0 SPECDEC_CUDA_GEMV_WARPS=8 SPECDEC_CUDA_ATT_SPLITS=4
        SPECDEC_CUDA_GEMV_PAIR=4096 SPECDEC_CUDA_GEMV_INTERLEAVE=0 SPECDEC_CUDA_ATT_EARLY=0})
    for round in $(seq "${VARIANT_ROUNDS:-2}"); do
        for v in "${variants[@]}"; do
            export "$v"
            bench "variant_llama-1b_${v}_$round" --target "$synth/llama-1b" --name llama-1b --context 128
            bench "variant_pycode-19m_${v}_$round" --target pycode/pycode-19m --context 128
            unset "${v%%=*}"
        done
    done
    step "variants: decode latency, share of copy bandwidth, T(9)/T(1)"
    for f in "$LOGS"/bench_variant_*.log; do
        printf '%-60s %s  %s  %s\n' "$(basename "$f" .log)" "$(grep -o 'latency *[0-9.]* ms' "$f")" \
            "$(grep -o '[0-9.]*% of copy' "$f")" "$(grep -o ' 9:[0-9.]*' "$f")"
    done
fi
if [[ $MODES == *" big "* ]]; then
    run_logged synth_llama-8b "$SPECDEC" synth --shape llama-8b --dtype bf16 --out "$synth/llama-8b"
    bench llama-8b_cuda --target "$synth/llama-8b" --name llama-8b --context 128
fi

if [[ $MODES == *" profile "* ]]; then
    # bench --iters 1 runs each forward of k rows 8 times, 42 matching kernels each, after the
    # prefill's 8 attention launches: profile the 2nd and 3rd forwards of 1 and of 5 rows
    for k in 1 5; do
        step "ncu: pycode-19m forward of $k rows"
        ncu --clock-control none --csv --metrics gpu__time_duration.sum -k regex:'gemv|attention|embed' \
            --launch-skip $((8 + 336 * (k - 1) + 42)) --launch-count 84 "$SPECDEC" bench --target pycode/pycode-19m \
            --device cuda --iters 1 --context 128 --out "$LOGS/bench/ncu_run.json" >"$LOGS/ncu_19m_k$k.csv" 2>&1 ||
            failed+=("ncu k=$k")
        tail -2 "$LOGS/ncu_19m_k$k.csv"
    done
    synth_llama_1b
    # 16 prefill attention launches, then 82 matching kernels per forward, 8 forwards per row count:
    # durations of the second forward of 1, 8 and 9 rows, and for 1 and 9 the full sections of
    # its layer 1 (projections qkv, o, gate/up, down and attention)
    for k in 1 8 9; do
        step "ncu: llama-1b forward of $k rows"
        skip=$((16 + 82 * 8 * (k - 1) + 82))
        ncu --clock-control none --csv --metrics gpu__time_duration.sum,dram__bytes_read.sum \
            -k regex:'gemv|attention|embed' --launch-skip $skip --launch-count 82 "$SPECDEC" bench \
            --target "$synth/llama-1b" --device cuda --iters 1 --context 128 --out "$LOGS/bench/ncu_run.json" \
            >"$LOGS/ncu_llama-1b_k$k.csv" 2>&1 || failed+=("ncu llama-1b k=$k")
        tail -2 "$LOGS/ncu_llama-1b_k$k.csv"
        [ "$k" = 8 ] && continue
        ncu --clock-control none --csv --page details --section SpeedOfLight --section MemoryWorkloadAnalysis \
            --section WarpStateStats --section Occupancy --section LaunchStats --section SchedulerStats \
            -k regex:'gemv|attention|embed' --launch-skip $((skip + 6)) --launch-count 5 "$SPECDEC" bench \
            --target "$synth/llama-1b" --device cuda --iters 1 --context 128 --out "$LOGS/bench/ncu_run.json" \
            >"$LOGS/ncu_llama-1b_k${k}_sections.csv" 2>&1 || failed+=("ncu sections k=$k")
    done
fi

step "summary"
[ -n "${OUT:-}" ] && tar -czf "$OUT/gpu_logs.tgz" -C "$LOGS" .
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all passed"

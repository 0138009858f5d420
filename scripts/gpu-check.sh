#!/usr/bin/env bash
# scripts/gpu-check.sh: the CUDA path proved in one command on a fresh GPU machine (run from the repo root).
#   install (existing node_modules, else npm ci) -> build -> hm4sr setup-cuda -> hm4sr doctor -> the tests that
#   need no GPU (static CUDA kernel coverage, setup, session policy, doctor) -> a CUDA device? (else stop here with
#   "no CUDA device") -> the CUDA tests (strict placement; a skip is a failure) -> Beauty on CUDA (Loop graph: two
#   full epochs, two full evaluations, peak GPU memory) -> Beauty on the CPU (first 20 steps, one full evaluation)
# Prints one JSON object on stdout at the end (step output goes to stderr) (and writes it to $OUT/gpu-check.json when OUT is set), with whatever was
# measured even when a step fails; every step says what it does and how it ended. Budget: under 8 minutes.
# Environment:
#   HM4SR_BEAUTY    Beauty dataset folder (default: the built-in data/amazon-beauty, else ../shared/data/amazon-beauty)
#   HM4SR_PREBUILT=1  use the dist/ and node_modules/ that are there (the GPU kit, scripts/gpu-kit.sh): no install, no build
#   HM4SR_CUDA_TGZ  the provider package tarball (npm pack com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9),
#                   for machines that cannot reach the npm registry
#   GPU_CHECK_DEADLINE  seconds after which no step may still run (the kit sets it under the device's 10 minutes)
#   GPU_CHECK_CUDA_EPOCHS (default 2), GPU_CHECK_CPU_STEPS (default 20), GPU_CHECK_CPU_EVAL_RUNS (default 1)
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
START=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
STEPS="$WORK/steps.jsonl"
: > "$STEPS"
say() { printf '[gpu-check %3ss] %s\n' "$(( $(date +%s) - START ))" "$*" >&2; }

# run_step NAME TIMEOUT_S CMD...: runs CMD with a time limit, output to $WORK/NAME.log (shown as it comes).
# GPU_CHECK_DEADLINE (seconds after the start) caps every limit, keeping 20 s to write the JSON: the device tool
# kills a command after 10 minutes, and a killed check would report nothing.
run_step() {
  local name=$1 limit=$2; shift 2
  if [ -n "${GPU_CHECK_DEADLINE:-}" ]; then
    local left=$(( GPU_CHECK_DEADLINE - ($(date +%s) - START) - 20 ))
    if [ "$left" -lt 10 ]; then
      say "== $name: SKIPPED (no time left before the ${GPU_CHECK_DEADLINE} s deadline)"
      printf '{"step":"%s","ok":false,"exit":124,"seconds":0,"error":"skipped: no time left before the deadline"}\n' "$name" >> "$STEPS"
      return 124
    fi
    [ "$left" -lt "$limit" ] && limit=$left
  fi
  say "== $name: $*"
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > >(tee "$WORK/$name.out" >&2) 2> >(tee "$WORK/$name.log" >&2)
  local rc=$?
  sleep 0.2
  local secs=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then say "   $name: ok (${secs} s)"; else say "   $name: FAILED (exit $rc$([ $rc -eq 124 ] && echo ", timed out after ${limit} s"), ${secs} s)"; fi
  printf '{"step":"%s","ok":%s,"exit":%d,"seconds":%d}\n' "$name" "$([ $rc -eq 0 ] && echo true || echo false)" "$rc" "$secs" >> "$STEPS"
  return $rc
}

# One JSON object from what was measured (also when a step failed: it carries the step's last stderr lines).
assemble_json() {
  RESULT="$WORK/gpu-check.json"
  WORK="$WORK" STOPPED="$1" ELAPSED=$(( $(date +%s) - START )) node -e '
const fs = require("fs"), w = process.env.WORK;
const read = (f) => { try { return fs.readFileSync(`${w}/${f}`, "utf8"); } catch { return ""; } };
const lastJson = (f) => { const l = read(f).trim().split("\n").filter((x) => x.startsWith("{")).pop(); try { return l ? JSON.parse(l) : null; } catch { return null; } };
// A failed step carries the last lines of its stderr, so the JSON alone says why.
const tail = (name) => read(`${name}.log`).replace(/\x1b\[[0-9;]*m/g, "").split("\n").filter((l) => l.trim() && !/^\s+at |^Node\.js v|^\s*\^+\s*$/.test(l)).slice(-3).join(" | ");
const steps = read("steps.jsonl").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l)).map((s) => s.ok ? s : { ...s, error: s.error ?? tail(s.step) });
const mem = read("gpu-mem.txt").split("\n").map(Number).filter((x) => Number.isFinite(x) && x > 0);
const strict = lastJson("bench-cuda.out"), loose = lastJson("bench-cuda-allow-cpu-nodes.out"), cuda = strict ?? loose, cpu = lastJson("bench-cpu.out");
const doctorOut = read("doctor.out"); let doctor = null; try { doctor = JSON.parse(doctorOut); } catch {}
const lastEpoch = (b) => b && b.epochs.length ? b.epochs[b.epochs.length - 1] : null;
const summary = (b) => b && {
  strictDevice: b.strictDevice, stepsPerRun: b.stepsPerRun, batchSize: b.batchSize, trainSamples: b.trainSamples,
  trainSamplesPerSecond: b.trainSamplesPerSecond, epochSeconds: b.epochSeconds, epochSecondsMeasured: b.epochSecondsMeasured,
  firstEpochSeconds: b.epochs[0] ? b.epochs[0].seconds : null, stepsTimed: lastEpoch(b).steps,
  evalUsers: b.evalUsers, evalBatchSize: b.evalBatchSize, evalSeconds: b.evalSeconds.length ? b.evalSeconds[b.evalSeconds.length - 1] : null, evalSecondsAll: b.evalSeconds,
  sessionCreateSeconds: b.sessionCreateSeconds, evalCreateSeconds: b.evalCreateSeconds, prepareSeconds: b.prepareSeconds, peakRssMiB: b.peakRssMiB, threads: b.threads,
};
const strictErr = read("bench-cuda.log").split("\n").find((l) => /could not create a CUDA session|Error|hm4sr:/.test(l)) ?? null;
const out = {
  check: "gpu-check", when: new Date().toISOString(), elapsedSeconds: Number(process.env.ELAPSED),
  gpu: read("gpu.txt").trim(), cores: require("os").cpus().length, ldLibraryPath: process.env.LD_LIBRARY_PATH ?? "",
  ok: !process.env.STOPPED && steps.every((s) => s.ok || s.step === "bench-cuda" && loose),
  error: process.env.STOPPED || null, steps,
  cuda: cuda && { ...summary(cuda), peakGpuMemoryMiB: mem.length ? Math.max(...mem) : null, gpuMemoryBeforeMiB: mem.length ? mem[0] : null,
    strictPlacementError: strict ? null : strictErr },
  cpu: cpu && summary(cpu),
  targets: cuda && { epochUnder3s: cuda.epochSeconds < 3, fullEvaluationUnder0_5s: summary(cuda).evalSeconds !== null && summary(cuda).evalSeconds < 0.5 },
  executionProviders: doctor && doctor.executionProviders,
  cudaCoverage: doctor && doctor.cudaCoverage,
};
fs.writeFileSync(`${w}/gpu-check.json`, JSON.stringify(out, null, 2) + "\n");
' || { say "could not assemble the JSON (node failed)"; echo '{"check":"gpu-check","ok":false,"error":"assembling the JSON failed"}' > "$RESULT"; }
}

finish() {
  if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT/gpu-check-logs"
    cp "$RESULT" "$OUT/gpu-check.json"
    cp "$WORK"/*.log "$WORK"/*.out "$WORK"/steps.jsonl "$OUT/gpu-check-logs/" 2>/dev/null
    say "wrote $OUT/gpu-check.json and the step logs in $OUT/gpu-check-logs/"
  fi
  say "done in $(( $(date +%s) - START )) s"
  cat "$RESULT"
  rm -rf "$WORK"
  exit "$1"
}

# "N x NAME" when a CUDA device is visible; else why not (the driver's nvidia-smi, else the device nodes).
cuda_device() {
  if command -v nvidia-smi > /dev/null; then
    local n; n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
    if [ "$n" -gt 0 ]; then echo "$n x $(nvidia-smi -L | head -1 | cut -d: -f2 | cut -d'(' -f1 | sed 's/^ *//;s/ *$//')"; return 0; fi
    echo "no CUDA device: nvidia-smi lists no GPU ($(nvidia-smi -L 2>&1 | head -1))"; return 1
  fi
  if ls /dev/nvidia[0-9]* > /dev/null 2>&1; then echo "$(ls /dev/nvidia[0-9]* | wc -l) x NVIDIA device (no nvidia-smi)"; return 0; fi
  echo "no CUDA device: no nvidia-smi and no /dev/nvidia* on this machine (no NVIDIA GPU or driver); the CUDA steps need one"
  return 1
}

MEM_KB=$(grep -m1 '^MemTotal:' /proc/meminfo 2>/dev/null | tr -s ' ' | cut -d' ' -f2)
say "machine: $(nproc) cores, $(( ${MEM_KB:-0} >> 20 )) GiB, node $(node --version 2>/dev/null || echo MISSING)"
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$WORK/gpu.txt" 2>&1 || true
  say "GPU: $(head -1 "$WORK/gpu.txt")"
else
  say "GPU: no nvidia-smi on this machine"; echo "none" > "$WORK/gpu.txt"
fi

# 1. install: prefer what is there (the device machine may have no registry access)
if [ "${HM4SR_PREBUILT:-}" = 1 ]; then
  say "== install, build: the prebuilt kit (dist/ and node_modules/ as unpacked)"
  printf '{"step":"install","ok":true,"exit":0,"seconds":0,"note":"prebuilt kit"}\n' >> "$STEPS"
elif [ -f node_modules/onnxruntime-node/package.json ] && [ -f node_modules/typescript/package.json ]; then
  say "== install: using the existing node_modules"
  printf '{"step":"install","ok":true,"exit":0,"seconds":0,"note":"existing node_modules"}\n' >> "$STEPS"
else
  ONNXRUNTIME_NODE_INSTALL=skip run_step install 240 npm ci --no-audit --no-fund
fi

# 2. build
[ "${HM4SR_PREBUILT:-}" = 1 ] || run_step build 240 npx tsc -p .

# 3. the CUDA provider from the npm registry (or $HM4SR_CUDA_TGZ), and the LD_LIBRARY_PATH it prints
TGZ=${HM4SR_CUDA_TGZ:-}
if [ -z "$TGZ" ]; then TGZ=$(ls ./com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz ../shared/com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz 2>/dev/null | head -1); fi
if run_step setup-cuda 300 node dist/cli/main.js setup-cuda ${TGZ:+--from "$TGZ"}; then
  LDP=$(sed -n 's/^export LD_LIBRARY_PATH=//p' "$WORK/setup-cuda.out" | tail -1)
  export LD_LIBRARY_PATH="$LDP"
  say "   LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
else
  say "   setup-cuda reported problems (above); CUDA steps will fail with the reason, CPU figures are still measured"
fi

# 4. doctor
run_step doctor 120 node dist/cli/main.js doctor --json

# 5. the tests that need no GPU: static CUDA kernel coverage of every graph, setup, the session policy, doctor
run_step tests-static 240 node scripts/test.mjs 'cuda-(coverage|setup|options|session)|doctor'

# 6. the first step that needs a GPU: without one, say so, write the JSON and stop
if ! device=$(cuda_device); then
  say "== cuda-device: $device"
  printf '{"step":"cuda-device","ok":false,"exit":2,"seconds":0,"error":"%s"}\n' "$device" >> "$STEPS"
  assemble_json "$device"
  finish 2
fi
say "== cuda-device: $device"
printf '{"step":"cuda-device","ok":true,"exit":0,"seconds":0,"note":"%s"}\n' "$device" >> "$STEPS"
HM4SR_REQUIRE_CUDA=1 run_step tests-cuda 300 node scripts/test.mjs '/cuda\.test\.js$'

# 7. Beauty data
DATA=${HM4SR_BEAUTY:-}
if [ -z "$DATA" ]; then
  for d in data/amazon-beauty data/beauty data/Beauty shared/data/amazon-beauty ../shared/data/amazon-beauty ../../shared/data/amazon-beauty; do
    if ls "$d"/*.inter* > /dev/null 2>&1; then DATA=$d; break; fi
  done
fi
if [ -n "$DATA" ]; then say "Beauty data: $DATA"; else say "Beauty data: NOT FOUND (set HM4SR_BEAUTY=DIR); benches will fail"; DATA=data/amazon-beauty; fi

# 8. Beauty on CUDA through the Loop graph, with peak GPU memory sampled by nvidia-smi
MEM_PID=
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$WORK/gpu-mem.txt" 2>/dev/null &
  MEM_PID=$!
fi
CUDA_EPOCHS=${GPU_CHECK_CUDA_EPOCHS:-2}
if ! run_step bench-cuda 330 node dist/cli/main.js bench device --data "$DATA" --ep cuda --epochs "$CUDA_EPOCHS" --eval-runs 2; then
  if grep -q 'Nodes that would run on the CPU' "$WORK/bench-cuda.log"; then
    say "   strict placement refused some nodes (listed above); measuring again with --allow-cpu-nodes"
    run_step bench-cuda-allow-cpu-nodes 300 node dist/cli/main.js bench device --data "$DATA" --ep cuda --epochs 1 --eval-runs 2 --allow-cpu-nodes
  fi
fi
[ -n "$MEM_PID" ] && kill "$MEM_PID" 2>/dev/null

# 9. the same on the CPU, first steps only
run_step bench-cpu 240 node dist/cli/main.js bench device --data "$DATA" --ep cpu --steps "${GPU_CHECK_CPU_STEPS:-20}" --steps-per-run 1 --eval-runs "${GPU_CHECK_CPU_EVAL_RUNS:-1}"

assemble_json ""
finish 0

#!/usr/bin/env bash
# scripts/gpu-kit-rehearse.sh (scripts/gpu-kit.sh rehearse): the GPU machine's procedure, rehearsed here.
# Builds the kit if .gpu-kit/ has none, then makes one "GPU call" per part, as the device tool does: a fresh copy
# of the checkout whose .gpu-kit/ holds only the manifest and that call's part, run in a network namespace
# (unshare -rn: no network at all) with a PATH of bash, coreutils, the Debian-essential tools and python3, and no
# node or npm. The last call unpacks into a fresh directory and runs the check with the kit's Node, which must
# stop at the first step that needs a GPU with "no CUDA device" and a JSON result, every step before it ok
# except setup-cuda (this machine has no CUDA 13 libraries either). Exit 0 when it did exactly that.
# Leaves nothing behind; REHEARSAL_OUT=DIR keeps each call's JSON and the check's logs there.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIT=${GPU_KIT_DIR:-$ROOT/.gpu-kit}
say() { printf '[rehearse] %s\n' "$*" >&2; }
command -v unshare > /dev/null || { say "needs unshare (util-linux) for the network namespace"; exit 1; }
[ -f "$KIT/MANIFEST.sha256" ] || bash "$ROOT/scripts/gpu-kit.sh" build > /dev/null || { say "the kit could not be built"; exit 1; }

BOX=$(mktemp -d "${TMPDIR:-/tmp}/hm4sr-rehearse.XXXXXX")
trap 'chmod -R u+w "$BOX" 2>/dev/null; rm -rf "$BOX"' EXIT
mkdir -p "$BOX/bin" "$BOX/home" "$BOX/tmp" "$BOX/device"
# What the GPU machine surely has: bash, coreutils, Debian's essential grep/sed/tar/gzip/find, and python3.
for t in bash sh env cat cp mv rm mkdir rmdir ls ln cut tr head tail sort uniq wc stat du df date sleep timeout tee \
  cmp sha256sum split basename dirname readlink realpath mktemp nproc printf echo true false test chmod touch id \
  uname seq xargs kill grep sed tar gzip find python3; do
  p=$(command -v "$t") && ln -s "$(readlink -f "$p")" "$BOX/bin/$t"
done
if PATH=$BOX/bin command -v node > /dev/null || PATH=$BOX/bin command -v npm > /dev/null; then say "node or npm is on the clean PATH"; exit 1; fi
# The checkout as the device tool sends it: tracked and untracked files that git does not ignore.
(cd "$ROOT" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$BOX/device" 2> /dev/null)
cp "$ROOT/scripts/gpu-kit.sh" "$ROOT/scripts/gpu-check.sh" "$BOX/device/scripts/"

sandbox() {  # sandbox DIR CMD...: no network, clean environment, clean PATH
  local dir=$1; shift
  (cd "$dir" && unshare -rn env -i PATH="$BOX/bin" HOME="$BOX/home" TMPDIR="$BOX/tmp" LANG=C.UTF-8 "$@")
}
net=$(sandbox "$BOX" python3 -c 'import socket
try: socket.create_connection(("registry.npmjs.org", 443), timeout=3); print("REACHABLE")
except OSError as e: print("unreachable:", e)')
say "network inside: $net"
case $net in unreachable*) ;; *) say "the namespace has network"; exit 1 ;; esac

parts=$(cd "$KIT" && ls hm4sr-gpu-kit.part-*)
n=0; total=$(echo "$parts" | wc -l); ok=1
for p in $parts; do
  n=$((n + 1))
  rm -rf "$BOX/device/.gpu-kit" && mkdir -p "$BOX/device/.gpu-kit"
  cp "$KIT/MANIFEST.sha256" "$KIT/kit.json" "$KIT/$p" "$BOX/device/.gpu-kit/"
  say "call $n/$total: carries $p ($(( $(stat -c %s "$KIT/$p") >> 20 )) MiB) and runs scripts/gpu-kit.sh run"
  t0=$(date +%s)
  sandbox "$BOX/device" OUT="$BOX/out-$n" GPU_KIT_RECV="$BOX/recv" bash scripts/gpu-kit.sh run > "$BOX/call-$n.out" 2> "$BOX/call-$n.err"
  rc=$?
  say "   exit $rc in $(( $(date +%s) - t0 )) s; stdout: $(tail -c 300 "$BOX/call-$n.out" | tr '\n' ' ')"
  if [ "$n" -lt "$total" ] && { [ $rc -ne 0 ] || ! grep -q '"missing":\["' "$BOX/call-$n.out"; }; then ok=0; cat "$BOX/call-$n.err" >&2; fi
done
last=$BOX/out-$total/gpu-check.json
tail -25 "$BOX/call-$total.err" >&2
if [ ! -f "$last" ]; then say "FAILED: the last call wrote no gpu-check.json"; ok=0
else
  cat "$last"
  python3 - "$last" <<'PY' || ok=0
import json, sys
j = json.load(open(sys.argv[1]))
steps = {s['step']: s for s in j['steps']}
problems = []
if not (j['error'] or '').startswith('no CUDA device'): problems.append(f"error is {j['error']!r}, not 'no CUDA device ...'")
if list(steps)[-1] != 'cuda-device': problems.append(f"the last step is {list(steps)[-1]}, not cuda-device")
for s in ('install', 'doctor', 'tests-static'):
    if not steps.get(s, {}).get('ok'): problems.append(f"step {s} did not pass: {steps.get(s)}")
cov = j.get('cudaCoverage') or []
if not cov or any(g['failing'] for g in cov): problems.append(f"doctor's CUDA coverage: {cov}")
print('\n'.join(f'[rehearse] FAILED: {p}' for p in problems) or '[rehearse] stopped at the GPU step as it must', file=sys.stderr)
sys.exit(1 if problems else 0)
PY
fi
if [ -n "${REHEARSAL_OUT:-}" ]; then mkdir -p "$REHEARSAL_OUT" && cp -r "$BOX"/out-* "$BOX"/call-* "$REHEARSAL_OUT/"; fi
[ $ok = 1 ] && say "rehearsal passed: $total calls" || say "rehearsal FAILED"
[ $ok = 1 ]

#!/usr/bin/env bash
# scripts/gpu-kit.sh: the GPU check for a machine with no network and maybe no Node (docs/gpu.md).
#
#   build      (a machine with the npm registry, from the repo root) builds dist/ and writes the kit into
#              .gpu-kit/ (git-ignored): hm4sr-gpu-kit.part-NN (56 MiB each), MANIFEST.sha256, kit.json.
#              The kit is one tar.gz of: this Node's binary, the built dist/, node_modules with only the runtime
#              packages the check loads (onnxruntime-node for Linux x64 only, the CUDA provider placed beside its
#              libonnxruntime.so.1), the CUDA kernel table, scripts/test.mjs and gpu-check.sh.
#   run        (the GPU machine, one call per part, from the repo root) receives the parts carried in .gpu-kit/;
#              once all are there: verifies, unpacks into a fresh directory and runs the check with the kit's
#              Node. Uses only bash, coreutils and python3 until the kit's Node takes over. Always ends with one
#              JSON line on stdout (and $OUT/gpu-kit.json when OUT is set).
#   receive | unpack DEST | check DEST   the steps of `run`, one by one.
#   rehearse   (here) builds the kit if needed and runs `run` once per part in a network namespace with a PATH
#              that has no node or npm, into fresh directories: it must stop at the GPU step with "no CUDA device".
#
# Environment: GPU_KIT_DIR (default .gpu-kit: where build writes and run reads the parts), GPU_KIT_RECV (default
# ${TMPDIR:-/tmp}/hm4sr-gpu-kit: where run collects the parts between calls), GPU_KIT_DEST (default
# $GPU_KIT_RECV/unpacked), GPU_KIT_PART_MIB (default 56), HM4SR_CUDA_TGZ (the provider tarball instead of npm pack).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIT=${GPU_KIT_DIR:-$ROOT/.gpu-kit}
RECV=${GPU_KIT_RECV:-${TMPDIR:-/tmp}/hm4sr-gpu-kit}
# A call carries the checkout (about 5 MiB) with its part, 64 MiB in all: parts of 56 MiB leave room for it.
PART_MIB=${GPU_KIT_PART_MIB:-56}
CUDA_PACKAGE=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
ARCHIVE=hm4sr-gpu-kit.tar.gz
say() { printf '[gpu-kit] %s\n' "$*" >&2; }
die() { say "error: $*"; json_line false "$*"; exit 1; }
# One JSON line on stdout (and in $OUT): the result of this call, whatever happened.
json_line() {
  local ok=$1 msg=$2 extra=${3:-}
  msg=${msg//\\/\\\\}; msg=${msg//\"/\\\"}
  local line="{\"gpuKit\":\"$STAGE\",\"ok\":$ok,\"message\":\"$msg\"${extra:+,$extra}}"
  printf '%s\n' "$line"
  if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && printf '%s\n' "$line" > "$OUT/gpu-kit.json"; fi
}
STAGE=${1:-help}
T0=$(date +%s)

# --- build (needs node and npm) ----------------------------------------------------------------------------
# Runtime packages of the check: the dependencies the CLI (with its bench commands) and the tests load, with everything
# they depend on. @huggingface/transformers (featurize only, imported lazily) and type packages stay out.
copy_modules() {
  local to=$1
  node -e '
const fs = require("fs"), path = require("path");
const root = process.argv[1], nm = path.join(root, "node_modules");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const skip = new Set(["@huggingface/transformers"]);
// Resolved as Node does: the nearest node_modules/<dep> from the requiring package up to the root. Top-level
// packages are listed (a nested one travels inside its parent), every package found is followed.
const find = (from, d) => {
  for (let dir = from; dir.startsWith(root); dir = path.dirname(dir)) {
    const p = path.join(dir, "node_modules", d);
    if (fs.existsSync(path.join(p, "package.json"))) return p;
    if (dir === root) break;
  }
  return null;  // an optional dependency for another platform
};
const todo = [...Object.keys(pkg.dependencies).filter((d) => !skip.has(d)), "uvu"].map((d) => [root, d]);
const seen = new Set(), top = new Set();
while (todo.length) {
  const [from, d] = todo.pop();
  if (d.startsWith("@types/")) continue;
  const p = find(from, d);
  if (p === null || seen.has(p)) continue;
  seen.add(p);
  if (path.dirname(p) === nm || path.dirname(path.dirname(p)) === nm && d.startsWith("@")) top.add(d);
  const pj = JSON.parse(fs.readFileSync(path.join(p, "package.json"), "utf8"));
  for (const dep of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) todo.push([p, dep]);
}
process.stdout.write([...top].sort().join("\n") + "\n");' "$ROOT" > "$KIT/modules.txt" || return 1
  while read -r m; do
    mkdir -p "$to/node_modules/$(dirname "$m")"
    cp -a "$ROOT/node_modules/$m" "$to/node_modules/$m" || return 1
  done < "$KIT/modules.txt"
  # onnxruntime-node ships every platform's binaries: keep Linux x64 only.
  local bin=$to/node_modules/onnxruntime-node/bin/napi-v6 nm=$to/node_modules
  find "$bin" -mindepth 1 -maxdepth 2 -type d ! -path "$bin/linux" ! -path "$bin/linux/x64" -exec rm -rf {} +
  # Nothing loads source maps or type declarations; echarts and zrender are loaded through index.js (ESM) or
  # their one CommonJS bundle, not their other builds. This keeps the kit at four parts.
  find "$nm" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' \) -delete
  rm -rf "$nm/echarts/types" "$nm/zrender/src"
  find "$nm/echarts/dist" -maxdepth 1 -type f ! -name echarts.js ! -name package.json -delete
  find "$nm/zrender/dist" -maxdepth 1 -type f ! -name zrender.js -delete
}

provider_libs() {
  local to=$1 tgz=${HM4SR_CUDA_TGZ:-}
  if [ -z "$tgz" ]; then
    mkdir -p "$KIT/cache"
    tgz=$KIT/cache/${CUDA_PACKAGE%@*}-${CUDA_PACKAGE#*@}.tgz
    if [ ! -f "$tgz" ]; then
      say "fetching $CUDA_PACKAGE (npm pack, about 179 MB)"
      npm pack "$CUDA_PACKAGE" --pack-destination "$KIT/cache" > /dev/null || return 1
    fi
  fi
  [ -f "$tgz" ] || { say "no such file: $tgz"; return 1; }
  local x64=package/Plugins/Linux/x64
  tar -xzf "$tgz" -C "$KIT/cache" $x64/libonnxruntime_providers_cuda.so $x64/libonnxruntime_providers_shared.so || return 1
  mv "$KIT"/cache/package/Plugins/Linux/x64/libonnxruntime_providers_*.so "$to/" && rm -rf "$KIT/cache/package"
}

build() {
  command -v node > /dev/null && command -v npm > /dev/null || die "build needs node and npm (a machine with the npm registry)"
  cd "$ROOT" || exit 1
  say "building dist/ (tsc)"
  npx tsc -p . || die "tsc failed"
  rm -rf "$KIT/stage" "$KIT"/hm4sr-gpu-kit.part-* "$KIT/MANIFEST.sha256" "$KIT/kit.json" "$KIT/$ARCHIVE"
  local app=$KIT/stage/hm4sr-kit/app
  mkdir -p "$KIT/stage/hm4sr-kit/node/bin" "$app/scripts" "$app/runtime"
  cp "$(node -p process.execPath)" "$KIT/stage/hm4sr-kit/node/bin/node"
  # The Beauty data travels with the checkout (tracked), not in the kit; nothing reads dist's source maps.
  cp -a package.json dist "$app/" && cp -a runtime/ort-kernels "$app/runtime/" && find "$app/dist" -name '*.map' -delete
  cp scripts/test.mjs scripts/gpu-check.sh "$app/scripts/"
  say "copying the runtime packages"
  copy_modules "$app" || die "copying node_modules failed"
  provider_libs "$app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64" || die "the CUDA provider could not be had"
  say "packing ($(du -sm "$KIT/stage" | cut -f1) MiB uncompressed)"
  tar -C "$KIT/stage" -cf - hm4sr-kit | gzip -6 > "$KIT/$ARCHIVE" || die "tar failed"
  (cd "$KIT" && split -b "${PART_MIB}M" -d -a 2 "$ARCHIVE" hm4sr-gpu-kit.part- \
    && sha256sum hm4sr-gpu-kit.part-* "$ARCHIVE" > MANIFEST.sha256) || die "split failed"
  local parts; parts=$(cd "$KIT" && ls hm4sr-gpu-kit.part-* | wc -l)
  printf '{"node":"%s","onnxruntime":"%s","commit":"%s","built":"%s","parts":%d,"partMiB":%d,"archiveBytes":%d}\n' \
    "$(node --version)" "$(node -p 'require("./node_modules/onnxruntime-node/package.json").version')" \
    "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo -dirty)" "$(date -u +%FT%TZ)" \
    "$parts" "$PART_MIB" "$(stat -c %s "$KIT/$ARCHIVE")" > "$KIT/kit.json"
  rm -rf "$KIT/stage" "$KIT/$ARCHIVE"
  (cd "$KIT" && ls -l hm4sr-gpu-kit.part-* MANIFEST.sha256 kit.json) >&2
  json_line true "kit built: $parts parts in $KIT" "\"parts\":$parts"
}

# --- the GPU machine: bash, coreutils, python3 -----------------------------------------------------------
expected_parts() { grep -o 'hm4sr-gpu-kit\.part-[0-9]*' "$RECV/MANIFEST.sha256" | sort -u; }

receive() {
  mkdir -p "$RECV" || die "cannot create $RECV"
  [ -f "$KIT/MANIFEST.sha256" ] || die "no $KIT/MANIFEST.sha256: carry .gpu-kit/MANIFEST.sha256 and .gpu-kit/kit.json with every part"
  if [ -f "$RECV/MANIFEST.sha256" ] && ! cmp -s "$KIT/MANIFEST.sha256" "$RECV/MANIFEST.sha256"; then
    say "a different kit was being received: starting over"; rm -f "$RECV"/hm4sr-gpu-kit.part-*
  fi
  cp "$KIT/MANIFEST.sha256" "$KIT/kit.json" "$RECV/" || die "cannot copy the manifest"
  local p got=() missing=()
  for p in "$KIT"/hm4sr-gpu-kit.part-*; do
    [ -f "$p" ] || continue
    local name; name=$(basename "$p")
    (cd "$KIT" && grep " $name\$" MANIFEST.sha256 | sha256sum -c --quiet -) || die "$name does not match its SHA-256 in the manifest"
    cp "$p" "$RECV/$name.tmp" && mv "$RECV/$name.tmp" "$RECV/$name" || die "cannot store $name"
    say "received $name ($(( $(stat -c %s "$p") >> 20 )) MiB)"
  done
  for p in $(expected_parts); do if [ -f "$RECV/$p" ]; then got+=("\"$p\""); else missing+=("\"$p\""); fi; done
  RECEIVED="\"received\":[$(IFS=,; echo "${got[*]}")],\"missing\":[$(IFS=,; echo "${missing[*]}")]"
  [ ${#missing[@]} -eq 0 ]
}

unpack() {
  local dest=$1
  [ -e "$dest/hm4sr-kit" ] && die "$dest/hm4sr-kit already exists: unpack into a fresh directory"
  mkdir -p "$dest" || die "cannot create $dest"
  local p
  for p in $(expected_parts); do
    [ -f "$RECV/$p" ] || die "part $p has not been received (the machine went cold? start again from part 00)"
  done
  (cd "$RECV" && sha256sum -c --quiet MANIFEST.sha256 --ignore-missing) || die "a received part does not match the manifest"
  # shellcheck disable=SC2046
  (cd "$RECV" && cat $(expected_parts) > "$ARCHIVE.tmp" && mv "$ARCHIVE.tmp" "$ARCHIVE") || die "cannot join the parts"
  (cd "$RECV" && grep " $ARCHIVE\$" MANIFEST.sha256 | sha256sum -c --quiet -) || die "the joined archive does not match the manifest"
  python3 - "$RECV/$ARCHIVE" "$dest" <<'PY' || die "unpacking failed"
import sys, tarfile
with tarfile.open(sys.argv[1], 'r:gz') as t:
    # 'data' refuses absolute paths, links out of the tree and device files (Python >= 3.12, backported to 3.8+).
    t.extractall(sys.argv[2], filter='data') if hasattr(tarfile, 'data_filter') else t.extractall(sys.argv[2])
PY
  rm -f "$RECV/$ARCHIVE"
  say "unpacked into $dest/hm4sr-kit ($(du -sm "$dest/hm4sr-kit" | cut -f1) MiB)"
}

check() {
  local dest=$1
  [ -x "$dest/hm4sr-kit/node/bin/node" ] || die "no kit in $dest (run unpack first)"
  say "node $("$dest/hm4sr-kit/node/bin/node" --version) from the kit; running scripts/gpu-check.sh"
  cd "$dest/hm4sr-kit/app" || exit 1
  local data=${HM4SR_BEAUTY:-$ROOT/data/amazon-beauty}
  # The device tool's 10 minutes per command, less what receiving and unpacking took and a margin.
  local deadline=${GPU_CHECK_DEADLINE:-$(( 570 - ($(date +%s) - T0) ))}
  PATH="$dest/hm4sr-kit/node/bin:$PATH" HM4SR_PREBUILT=1 HM4SR_BEAUTY=$data GPU_CHECK_DEADLINE=$deadline bash scripts/gpu-check.sh
}

case "$STAGE" in
  build) build ;;
  receive) if receive; then json_line true "every part received" "$RECEIVED"; else json_line true "waiting for more parts" "$RECEIVED"; fi ;;
  unpack) unpack "${2:?unpack DEST}"; json_line true "unpacked into $2" ;;
  check) check "${2:?check DEST}" ;;
  run)
    if ! receive; then json_line true "part received; send the next one within 30 s" "$RECEIVED"; exit 0; fi
    DEST=${GPU_KIT_DEST:-$RECV/unpacked}
    unpack "$DEST"
    check "$DEST"
    ;;
  rehearse) exec bash "$ROOT/scripts/gpu-kit-rehearse.sh" ;;
  *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The code hashes in run ids (Makefile: $(BUILD)/gen/source_hashes.h; harness/plan.c): the
# "gpu" area hashes core/gpu and every .cu/.cuh of core/ from the sources, so a build with
# CUDA=1 and one without nvcc agree on it; editing a .cu or core/gpu file moves the "gpu"
# hash and nothing else, so --device cuda runs rerun after a GPU code change while the ids
# of CPU runs (which leave "gpu" out) stay put. Works on a copy of core/ and the Makefile.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$tmp/src"
cp -r "$root/core" "$root/Makefile" "$tmp/src/"
# $1: build dir under $tmp, $2: CUDA (nvcc is never run: only the header is made)
gen() {
    make -s -C "$tmp/src" BUILD="$tmp/$1" MPI=0 CUDA="${2:-0}" NVCC=/nonexistent/nvcc "$tmp/$1/gen/source_hashes.h" > /dev/null
    cat "$tmp/$1/gen/source_hashes.h"
}
area() { grep -o "{\"$2\", \"[0-9a-f]*\"}" <<<"$1"; }
cpu_areas() { grep -v '{"gpu",' <<<"$1"; }

before=$(gen a)
for a in base model train quant data eval kernels gpu; do
    [ -n "$(area "$before" $a)" ] || fail "source_hashes.h has no \"$a\" area: $before"
done
[ "$(gen cuda 1)" = "$before" ] || fail "CUDA=1 (without nvcc) hashes the sources differently"

echo '// a GPU kernel change' >> "$tmp/src/core/kernels/gemv_gpu.cu"
after_cu=$(gen b)
[ "$(area "$after_cu" gpu)" != "$(area "$before" gpu)" ] || fail "editing core/kernels/gemv_gpu.cu left the gpu hash"
[ "$(cpu_areas "$after_cu")" = "$(cpu_areas "$before")" ] || fail "editing a .cu moved a CPU area's hash"

echo '/* a GPU host-side change */' >> "$tmp/src/core/gpu/gpu_common.c"
after_c=$(gen c)
[ "$(area "$after_c" gpu)" != "$(area "$after_cu" gpu)" ] || fail "editing core/gpu/gpu_common.c left the gpu hash"
[ "$(cpu_areas "$after_c")" = "$(cpu_areas "$before")" ] || fail "editing core/gpu moved a CPU area's hash"

echo '/* a model change */' >> "$tmp/src/core/model/config.c"
after_model=$(gen d)
[ "$(area "$after_model" model)" != "$(area "$before" model)" ] || fail "editing core/model left the model hash"
[ "$(area "$after_model" gpu)" = "$(area "$after_c" gpu)" ] || fail "editing core/model moved the gpu hash"
echo "source_hashes: ok"

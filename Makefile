# paretoq — build, test, benchmark and reproduce.
#
# Every C file under core/ except the command entry point goes into libpq.a;
# `pq` links it. Unit tests are Criterion files under tests/unit, integration
# tests are shell scripts under tests/integration. New modules need no edit here.

SHELL      := /bin/bash
CC         ?= cc
TIER       ?= small
JOBS       ?= 2
PYTHON     ?= /usr/bin/python3

PKGS       := openblas libzstd jansson zlib libcrypto
# MPI=1 links Debian's OpenMPI (libopenmpi-dev) so that `mpirun -np K pq pretrain|qat` splits
# every optimizer step over K ranks (core/base/dist.h); on by default where its pkg-config
# file exists. Without mpirun such a pq never initializes MPI: runs are exactly MPI=0's.
MPI        ?= $(shell pkg-config --exists mpi-c 2>/dev/null && echo 1 || echo 0)
ifeq ($(MPI),1)
PKGS       += mpi-c
CPPFLAGS   += -DPQ_MPI
endif
VERSION    := $(shell git describe --always --dirty --tags 2>/dev/null || echo unknown)
OPT        ?= -O2 -march=native
WARN       := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Werror=implicit-function-declaration -Werror=int-conversion -Werror=incompatible-pointer-types
CPPFLAGS   += -Icore -I$(BUILD)/gen -D_GNU_SOURCE
CFLAGS     += -std=c17 $(OPT) -g $(WARN) -fopenmp \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS     += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lbz2 -lm -fopenmp

# CUDA=1 adds the GPU backend (the .cu files of core/ through nvcc, cuBLAS) and builds into
# build-cuda by default; without it nothing CUDA is compiled (core/gpu/gpu_none.c
# answers --device cuda with an error). `make test-gpu` implies CUDA=1.
ifneq ($(filter test-gpu,$(MAKECMDGOALS)),)
CUDA       := 1
endif
CUDA       ?= 0
ifeq ($(CUDA),1)
BUILD      ?= build-cuda
endif
BUILD      ?= build
LIB_SRC    := $(filter-out core/cli/pq.c,$(shell find core -name '*.c' | sort))
CLI_MAIN   := core/cli/pq.c
ifeq ($(CUDA),1)
CUDA_HOME  ?= /usr/local/cuda
NVCC       ?= $(CUDA_HOME)/bin/nvcc
CUDA_ARCH  ?= 90
NVCCFLAGS  ?= -O2 -std=c++17 -gencode arch=compute_$(CUDA_ARCH),code=[sm_$(CUDA_ARCH),compute_$(CUDA_ARCH)] \
              -Xcompiler -Wall,-Wno-unused-parameter
LIB_SRC    := $(filter-out core/gpu/gpu_none.c core/quant/quantizer_gpu_none.c core/kernels/gemv_gpu_none.c,$(LIB_SRC))
CU_SRC     := $(shell find core -name '*.cu' | sort)
override LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
endif
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
TEST_SRC   := $(sort $(wildcard tests/unit/*.c))
TEST_OBJ   := $(TEST_SRC:%.c=$(BUILD)/%.o)
DEPFILES   := $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/core/cli/pq.d $(BUILD)/tests/gpu/test_gpu.cu.d

.PHONY: all deps test test-unit test-integration test-asan test-gpu test-slurm-tier bench bench-memory bench-mpi reproduce check plots report \
        clean docker-reproduce data

all: pq

pq: $(BUILD)/pq
	@ln -sf $(BUILD)/pq pq

$(BUILD)/pq: $(BUILD)/core/cli/pq.o $(BUILD)/libpq.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/libpq.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(CPPFLAGS) $(NVCCFLAGS) -MMD -MP -MF $(@:.o=.d) -c -o $@ $<

$(BUILD)/tests/unit/%.o: CFLAGS += $(shell pkg-config --cflags criterion 2>/dev/null)

$(BUILD)/unit-tests: $(TEST_OBJ) $(BUILD)/libpq.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(shell pkg-config --libs criterion 2>/dev/null) $(LDLIBS)

-include $(DEPFILES)

# The code version is regenerated on every build but rewritten only when it
# changes, so a new commit relinks with the right `git describe` and nothing more.
$(BUILD)/gen/version.h: FORCE
	@mkdir -p $(@D)
	@echo '#define PQ_VERSION "$(VERSION)"' > $@.new
	@cmp -s $@.new $@ && rm $@.new || mv $@.new $@
$(BUILD)/core/base/manifest.o: $(BUILD)/gen/version.h

# One SHA-256 per area of core/: a run's id includes the hashes of the areas it
# executes, so editing the model reruns training and editing the harness does not.
# The "gpu" area is the CUDA backend, core/gpu and every .cu/.cuh of core/, in the ids
# of --device cuda runs only (harness/plan.c): hashed from the sources, so a build
# without nvcc computes the same value.
AREAS := base model train quant data eval kernels
$(BUILD)/gen/source_hashes.h: FORCE
	@mkdir -p $(@D)
	@{ echo 'static const struct { const char *area, *sha256; } pq_source_hashes[] = {'; \
	   for a in $(AREAS); do \
	     h=$$(find core/$$a -name '*.[ch]' 2>/dev/null | LC_ALL=C sort | xargs -r cat | sha256sum | cut -c1-64); \
	     echo "    {\"$$a\", \"$$h\"},"; done; \
	   h=$$({ find core/gpu -name '*.[ch]'; find core -name '*.cu' -o -name '*.cuh'; } 2>/dev/null | LC_ALL=C sort -u \
	        | xargs -r cat | sha256sum | cut -c1-64); \
	   echo "    {\"gpu\", \"$$h\"},"; echo '};'; } > $@.new
	@cmp -s $@.new $@ && rm $@.new || mv $@.new $@
$(BUILD)/core/harness/plan.o: $(BUILD)/gen/source_hashes.h
FORCE:

# --- dependencies -----------------------------------------------------------
# Exactly the Debian packages the suite needs; only the missing ones are installed.
DEB_PKGS := build-essential pkg-config git ca-certificates libopenblas-dev libcriterion-dev \
            libzstd-dev zstd libjansson-dev zlib1g-dev libbz2-dev libssl-dev \
            python3-matplotlib python3-numpy python3-sentencepiece chromium clang-14 libclang-rt-14-dev libomp-14-dev \
            libopenmpi-dev openmpi-bin munge slurmctld slurmd slurm-client
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	    | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "make deps: installing $$missing"; \
	    if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "make deps: all Debian packages present"; fi

# --- tests ------------------------------------------------------------------
test: deps
	@$(MAKE) --no-print-directory test-unit test-integration fuzz

test-unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests --jobs $(JOBS)

test-integration: pq
	@for t in $(filter-out tests/integration/lib.sh,$(sort $(wildcard tests/integration/*.sh))); do \
	    echo "== $$t"; PQ=$(CURDIR)/pq PQ_SANITIZED=$(PQ_SANITIZED) bash $$t || exit 1; done

# The whole smoke tier through --executor slurm on a single-node cluster it starts (munge,
# slurmctld, slurmd; as root), interrupted once by a node failure, then pq check against
# results/smoke. As long as a local smoke run, so not part of `make test`.
test-slurm-tier: pq
	PQ=$(CURDIR)/pq bash tests/cluster/smoke_tier.sh

# On a machine with an NVIDIA GPU: the CUDA backend against the CPU path (kernels,
# gradients, a 200-step loss curve, run-to-run bitwise identity). CI has no GPU.
test-gpu: $(BUILD)/test-gpu
	$(BUILD)/test-gpu

$(BUILD)/test-gpu: $(BUILD)/tests/gpu/test_gpu.cu.o $(BUILD)/libpq.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan \
	    OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" PQ_SANITIZED=1 test-unit test-integration
	@ln -sf $(BUILD)/pq pq

# --- fuzzing ------------------------------------------------------------------
# One libFuzzer target per parser of untrusted input (tests/fuzz/fuzz_<name>.c),
# built with Debian's clang against a copy of the library instrumented for
# coverage, ASan and UBSan in $(FUZZ_BUILD). `make fuzz` replays each target's
# regression inputs, then fuzzes it FUZZ_SECONDS from its seeds (tests/fuzz/run.sh).
FUZZ_CC      ?= clang-14
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 20
FUZZ_TARGETS ?= ckpt shard suite tasks config bpe safetensors hf_tokenizer spm
FUZZ_OPT     := -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
                -Wno-pass-failed -Wno-psabi
# The instrumented build is most of what fuzzing costs CI, so the parts no parser reaches
# (the corpus decoders, the kernels, the command layer) are left out.
FUZZ_LIB_SRC := $(filter-out core/data/sources/% core/kernels/% core/cli/%,$(LIB_SRC))
.PHONY: fuzz fuzz-build fuzz-seeds

fuzz: fuzz-build
	@bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build:
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT="$(FUZZ_OPT)" \
	    $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

$(BUILD)/libpq-fuzz.a: $(FUZZ_LIB_SRC:%.c=$(BUILD)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libpq-fuzz.a
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libpq-fuzz.a $(LDFLAGS) $(LDLIBS)

# Rewrites the seed corpus from the library's own writers and suites/ (after a format change).
fuzz-seeds:
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT="$(FUZZ_OPT)" $(FUZZ_BUILD)/make-fuzz-seeds
	$(FUZZ_BUILD)/make-fuzz-seeds tests/fuzz/corpus suites

$(BUILD)/make-fuzz-seeds: tests/fuzz/make_seeds.c $(BUILD)/libpq-fuzz.a
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# --- benchmarks, the study, figures -------------------------------------------
bench: pq
	./pq bench --out results/bench
	PQ=./pq tests/bench/memory.sh results/bench

# Peak resident memory per parameter of pretrain, qat, ptq, eval and generate on two model
# sizes, with what --max-memory planned: results/bench/memory.json (about 5 minutes).
bench-memory: pq
	PQ=./pq tests/bench/memory.sh results/bench

# mpirun -np K pq pretrain against one process (tokens/s at K = 1 .. cores): results/bench/mpi.json
bench-mpi: pq
	bash tests/bench/mpi_scaling.sh ./pq results/bench/mpi.json

data: pq
	./pq data build

# Your own results go to work/results/<tier> (figures and REPORT.md next to them);
# the committed reference in results/<tier> is what the final check compares with.
reproduce: deps pq
	./pq data build
	./pq suite run all --tier $(TIER) -j $(JOBS)
	$(MAKE) --no-print-directory plots report TIER=$(TIER) RESULTS=$(or $(PQ_WORK),work)/results
	./pq check --tier $(TIER) --reuse

check: pq
	./pq check --tier $(TIER) -j $(JOBS)

plots:
	$(PYTHON) plots/make_all.py --results $(or $(RESULTS),results)/$(TIER)

report:
	$(PYTHON) plots/report.py --results $(or $(RESULTS),results)/$(TIER)

docker-reproduce:
	bash docker/reproduce.sh $(TIER)

clean:
	rm -rf build build-asan build-cuda pq
	rm -rf $(FUZZ_BUILD)

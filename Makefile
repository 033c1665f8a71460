# nockpool — operator and developer targets. Outputs land in target/release/.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all release pool-server miner miner-gpu wallet demo test lint bench bench-gpu fuzz clean-data help

all: release

help:
	@echo "make release      build pool-server, miner and nockchain-wallet (target/release/)"
	@echo "make pool-server  build the pool server"
	@echo "make miner        build the miner"
	@echo "make miner-gpu    build the miner with GPU mining (--gpu; needs a Vulkan/Metal/DX12 driver to run)"
	@echo "make wallet       build nockchain-wallet"
	@echo "make demo         pool server on the embedded devnet + one local miner (Ctrl-C stops)"
	@echo "make test         the test suite CI runs (tests + examples)"
	@echo "make lint         fmt --check, clippy -D warnings, doc (warnings denied)"
	@echo "make bench        criterion benches (see benches/BENCHES.md)"
	@echo "make bench-gpu    the GPU search on every adapter beside the CPU kernel (BENCHES.md)"
	@echo "make fuzz         every fuzz target FUZZ_SECONDS (default 60) each (nightly + cargo-fuzz)"

# Exactly the three operator binaries (the load generator is in nockpool-benches, the test
# programs in nockpool-testkit).
release:
	$(CARGO) build --release -p nockpool-bins --bin pool-server --bin miner --bin nockchain-wallet

pool-server:
	$(CARGO) build --release -p nockpool-bins --bin pool-server

miner:
	$(CARGO) build --release -p nockpool-bins --bin miner

miner-gpu:
	$(CARGO) build --release -p nockpool-bins --bin miner --features gpu

wallet:
	$(CARGO) build --release -p nockpool-bins --bin nockchain-wallet

# The main job on one machine: a pool server on the embedded development chain (simulated,
# not Nockchain mainnet) and one miner connected to it over 127.0.0.1:7777.
demo: release
	./scripts/demo.sh

test:
	$(CARGO) test --workspace --features nockpool-bins/gpu
	./scripts/run-examples.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets --features nockpool-bins/gpu -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

bench:
	$(CARGO) bench -p nockpool-benches

bench-gpu:
	$(CARGO) bench -p nockpool-gpu --bench search

# Coverage-guided fuzzing of every decoder on an untrusted path (fuzz/README.md). Needs the
# nightly toolchain; installs cargo-fuzz when absent.
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	./fuzz/run.sh $(FUZZ_SECONDS)

clean-data:
	rm -rf data/demo

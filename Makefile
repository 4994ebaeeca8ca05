# Signet build, test and demo. See README.md.
#
#   make demo   set up everything on a fresh Debian machine and run the agent's main job
#   make test   install what the tests need and run every test (what CI runs)

SHELL        := /bin/bash
GO           ?= go
export GOTOOLCHAIN := local
export CGO_ENABLED := 1

# System packages the project needs (Debian names). Later issues add to this list.
APT_PACKAGES := softhsm2 opensc openssl libnss3-tools gcc chromium libengine-gost-openssl postgresql
APT_PACKAGES += lintian
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

BIN          := bin
DEMO_DIR     := .demo
BINARIES     := signet
# Plugins: NAME=GO_PACKAGE[:off], built as signet-plugin-NAME (":off": packaged but disabled by
# default). The one list `build` and `package` use.
PLUGINS      := eimzo=./plugins/eimzo/cmd/signet-plugin-eimzo cryptoarm=./plugins/cryptoarm/cmd/signet-plugin-cryptoarm \
                cipher=./plugins/cipher/cmd/signet-plugin-cipher:off kontur=./plugins/kontur/cmd/signet-plugin-kontur:off \
                example=./plugins/example:off
PKG_VERSION  ?= 0.1.0~dev
DIST         := dist

.PHONY: all deps build test vet demo demo-setup demo-server bench bench-compare bench-ab fuzz clean proto package

all: build

## deps: install missing system packages with apt (idempotent, quiet when present)
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

## build: every binary into bin/
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./agent/cmd/...
	@for p in $(PLUGINS); do pkg=$${p#*=}; pkg=$${pkg%:off}; \
	  echo "$(GO) build -o $(BIN)/signet-plugin-$${p%%=*} $$pkg"; \
	  $(GO) build -o $(BIN)/signet-plugin-$${p%%=*} $$pkg || exit 1; done

## package: the Debian package $(DIST)/signet_VERSION_ARCH.deb (nfpm, pinned in packaging/nfpm/go.mod):
##          signet, the plugins pinned by SHA-256 in /etc/signet/config.yaml, the systemd user unit,
##          completions, man pages, README.admin.md (packaging/build-deb.sh)
package:
	GO=$(GO) packaging/build-deb.sh $(PKG_VERSION) $(DIST) $(PLUGINS)

vet:
	$(GO) vet ./...

## test: deps, vet, and every test with the race detector
test: deps vet
	$(GO) test -race -count=1 -timeout 30m ./...

## demo: deps, a demo SoftHSM token, PFX file and agent config (once), build, list the keys, run the agent
demo: deps build
	@softhsm-config/demo-setup.sh $(DEMO_DIR) $(BIN)
	SOFTHSM2_CONF=$(abspath $(DEMO_DIR))/softhsm2.conf SIGNET_PFX_PASSWORD=demo $(BIN)/signet keys --unlock \
	  --module /usr/lib/softhsm/libsofthsm2.so --pfx-dir $(abspath $(DEMO_DIR))/pfx
	@echo
	@echo "Starting the agent with the example plugin on https://127.0.0.1:8443 (Ctrl-C stops it)."
	@echo "Try, in another terminal (see plugins/example/README.md):"
	@echo "  curl --cacert $(DEMO_DIR)/data/ca/ca.crt https://127.0.0.1:8443/keys"
	@echo "  Cipher API on https://127.0.0.1:9091/api/v1 and :9090: a curl session in plugins/cipher/README.md"
	@echo "  $(BIN)/signet open cryptoarm://signAndEncrypt/file://$(abspath $(DEMO_DIR))/cryptoarm/job.json   # then ls $(DEMO_DIR)/cryptoarm/out"
	@echo
	SOFTHSM2_CONF=$(abspath $(DEMO_DIR))/softhsm2.conf exec $(BIN)/signet serve --config $(abspath $(DEMO_DIR))/config.yaml

## demo-server: server mode (confirmed cloud signing): PostgreSQL and the kontur plugin on
##              http://127.0.0.1:9095 over the demo token (see plugins/kontur/README.md)
demo-server: deps build
	@softhsm-config/demo-setup.sh $(DEMO_DIR) $(BIN)
	@softhsm-config/demo-server.sh $(DEMO_DIR) $(BIN)

## bench: benchmarks, each reporting ratios against a baseline measured in the same run
##        (raw PKCS#11 signing, bare signatures, sha256 over the same stream, plain gRPC, exec floor)
##        and ends with one summary table of those ratios (internal/benchreport), also written to bench.json
bench: deps
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchtime 2s -timeout 30m ./hsm/... ./sdk/... ./internal/... ./agent/journal/... ./test/... | tee bench.txt
	$(GO) run ./internal/benchreport -json bench.json bench.txt

## bench-compare: the summaries of two `make bench` runs side by side (make bench-compare OLD=a.json NEW=b.json)
bench-compare:
	$(GO) run ./internal/benchreport -compare $(OLD) $(NEW)

## bench-ab: create_pkcs7 through this tree's agent and E-IMZO plugin and through those of BASE (a git
##           revision), interleaved in one run: new÷old latency, CPU and throughput (make bench-ab BASE=main)
bench-ab: deps
	@test -n "$(BASE)" || { echo "usage: make bench-ab BASE=<git revision>"; exit 2; }
	set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; mkdir "$$d/src" "$$d/bin"; \
	  git archive "$(BASE)" | tar -x -C "$$d/src"; \
	  (cd "$$d/src" && $(GO) build -o "$$d/bin/" ./agent/cmd/signet ./plugins/eimzo/cmd/signet-plugin-eimzo); \
	  for b in latency:2000x throughput:60x; do \
	    SIGNET_BENCH_BASELINE_BIN="$$d/bin" $(GO) test -run '^$$' -bench "BenchmarkEIMZOBeforeAfter/$${b%%:*}" -benchtime "$${b#*:}" \
	      -timeout 30m ./test/ | grep -E '^Benchmark|before_after'; done

## proto: regenerate sdk/proto with protoc (Debian protobuf-compiler) and the generators pinned in go.mod as tools
proto:
	protoc -I sdk/proto \
	  --plugin=protoc-gen-go="$$($(GO) tool -n protoc-gen-go)" \
	  --plugin=protoc-gen-go-grpc="$$($(GO) tool -n protoc-gen-go-grpc)" \
	  --go_out=sdk/proto --go_opt=paths=source_relative \
	  --go-grpc_out=sdk/proto --go-grpc_opt=paths=source_relative \
	  sdk/proto/signetv1/*.proto

clean:
	rm -rf $(BIN) $(DEMO_DIR) $(DIST)

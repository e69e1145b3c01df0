# mailgrid — the two commands that matter:
#   make run    run the whole system on this machine (embedded default: data in ./data)
#   make test   run every test (installs missing prerequisites first)
GO        ?= go
BIN       := bin/mailgrid
STATICCHECK_VERSION := v0.8.2

.PHONY: run build test test-deps lint bench bench-cluster fuzz clean

run: web/node_modules
	$(GO) run ./cmd/mailgrid serve

# The console's front-end packages (htmx), exact versions from web/package-lock.json.
web/node_modules: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch web/node_modules

build:
	$(GO) build -o $(BIN) ./cmd/mailgrid

# Every test: prerequisites (Debian packages, npm packages, PostgreSQL), static checks,
# then all Go tests (unit, conformance, real clients, black-box against the built binary),
# then a brief fuzzing of the protocol servers (FUZZTIME_TEST per target).
test: test-deps lint
	$(GO) test -count=1 -timeout 30m ./...
	GO=$(GO) bash scripts/fuzz.sh $(FUZZTIME_TEST) $(FUZZ_TEST_PKGS)

test-deps:
	bash scripts/test-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@command -v staticcheck >/dev/null 2>&1 || GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

# Figures, not pass/fail: SMTP, POP3, IMAP, outbound queue and webmail figures of the built
# binary, then the same POP3 and IMAP runs against Dovecot 2.3 from Debian's packages (the
# baseline of the IMAP/POP3 targets, installed by scripts/bench-deps.sh when missing).
bench: build
	bash scripts/bench-deps.sh
	$(GO) run ./test/bench -bin $(BIN) -dovecot

# The same figures for the cluster shapes (embedded baseline, 1 node/1 shard, 2/1, 2/2) on the
# local PostgreSQL, ending with a user move under load; databases are created and dropped.
bench-cluster: build
	$(GO) run ./test/bench -bin $(BIN) -cluster

# Every fuzz target of the repository (found with go test -list), FUZZTIME each; new
# failing inputs land in the package's testdata/fuzz. make test replays every corpus and
# fuzzes the IMAP and POP3 servers' targets (command parser, whole connections) briefly.
FUZZTIME ?= 30s
FUZZTIME_TEST ?= 5s
FUZZ_TEST_PKGS := ./internal/imapserver ./internal/pop3server
fuzz:
	GO=$(GO) bash scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin

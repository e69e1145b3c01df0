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
# then all Go tests (unit, conformance, real clients, black-box against the built binary).
test: test-deps lint
	$(GO) test -count=1 -timeout 30m ./...

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
# failing inputs land in the package's testdata/fuzz. make test runs only the corpora.
FUZZTIME ?= 30s
fuzz:
	@list=$$(mktemp); trap 'rm -f "$$list"' EXIT; \
	$(GO) test -list '^Fuzz' ./... > "$$list" || { cat "$$list"; exit 1; }; \
	awk '/^Fuzz/ { f[n++] = $$1; next } /^ok/ { for (i = 0; i < n; i++) print $$2, f[i] } { n = 0 }' "$$list" | \
	while read -r pkg target; do \
		echo "fuzz $$pkg $$target for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) "$$pkg" || exit 1; \
	done

clean:
	rm -rf bin

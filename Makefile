# Targets are a line or two each; `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BIN := bin/shortener
COVER_MIN ?= 70
IMAGE ?= registry.example.com/shortener:latest
FUNCTIONS := health users urls redirect events events-writer
SCENARIO ?= baseline
BASE_URL ?= http://localhost:8080

.PHONY: help run stop seed test cover e2e acceptance offline fuzz tour lint bench load capacity autoscale-sim build deploy manifests platform

# The help texts are read from this file, so the variables they name are filled in here.
help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' -v min=$(COVER_MIN) '{gsub(/\$$\(COVER_MIN\)/, min, $$2); printf "  %-11s %s\n", $$1, $$2}'

# devdeps's lines are taken apart from env(1): a failed $$(…) inside env's arguments would not stop the run.
run: ## serve the whole API on :8080 (DATABASE_URL/VALKEY_URL as given; unset: the local servers, or private ones under .dev/)
	@echo "run: building the server into bin/ (the first build takes a minute)…"
	@$(GO) build -o bin/ ./functions/cmd/devdeps ./functions/cmd/shortener
	@echo "run: finding or starting PostgreSQL and Valkey/Redis…"
	@deps=$$(bin/devdeps) && echo "run: starting the server on $${LISTEN_ADDRESS:-:8080} (Ctrl-C stops it; make stop stops the private servers under .dev/, if any)" && env $$deps LISTEN_ADDRESS=$${LISTEN_ADDRESS:-:8080} bin/shortener

stop: ## stop the private PostgreSQL and Redis under .dev/ that make run or the tests started (never the machine's own)
	@$(GO) run ./functions/cmd/devdeps -stop

seed: ## generate the seed CSVs under .dev/seed and load them into an empty database
	deps=$$($(GO) run ./functions/cmd/devdeps) && env $$deps $(GO) run ./functions/cmd/seed -dir .dev/seed

test: cover offline e2e acceptance fuzz tour cluster-test ## every test: Go tests with coverage gate, offline manifest proofs, multi-process tests, acceptance suite, fuzz pass, README tour, real control plane

# Each package's own figure would be its tests' share of the whole module (most show 0.0 %
# or a few per cent), so only the total is printed; failures and ok/FAIL lines are kept.
cover: ## Go tests against real PostgreSQL and Valkey/Redis; fails under $(COVER_MIN)% statement coverage
	@echo "cover: $(GO) test -count=1 -coverpkg=<every package but cmd/> -coverprofile=coverage.out ./..."
	@$(GO) test -count=1 -coverpkg=$$($(GO) list ./... | grep -v /cmd/ | paste -sd,) -coverprofile=coverage.out ./... | sed -u -E -e '/^\t[^\t]+\t+coverage: /d' -e '/^coverage: /d' -e 's/\tcoverage: .*//'
	@$(GO) tool cover -func=coverage.out | tail -1 | awk -v min=$(COVER_MIN) '{sub("%","",$$3); printf "total statement coverage: %s%% (gate %s%%)\n", $$3, min; if ($$3+0 < min) exit 1}'

# The tests of the files tagged e2e, by name: the untagged tests of the package ran in cover.
e2e: ## the multi-process tests (build tag e2e): the real binary as several processes, restarts, PostgreSQL and Valkey stopped or frozen
	@tests=$$(sed -n 's/^func \(Test[A-Za-z0-9_]*\)(t \*testing.T).*/\1/p' $$(grep -l '^//go:build e2e' *_test.go) | paste -sd'|'); \
	echo "e2e: $(GO) test -tags e2e -count=1 -run '^($$tests)$$' ."; $(GO) test -tags e2e -count=1 -run "^($$tests)$$" .

offline: ## offline proofs of the cluster manifests, rules and dashboards (nested modules)
	@command -v promtool >/dev/null && command -v amtool >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; } || echo "offline: run: sudo apt-get install -y prometheus prometheus-alertmanager"
	@for m in platform monitoring; do if [ -f $$m/go.mod ]; then (cd $$m && $(GO) test -count=1 ./...); fi; done

# Root (CLONE_NEWNET). The binaries are built once per go.sum into a cache outside the clone
# ($${XDG_CACHE_HOME:-~/.cache}/shortener-clustertest/<hash>): the first run on a machine pays
# the build (~25 minutes on 2 cores), later runs about a minute.
cluster-test: ## real API server + Knative/CNPG controllers (kwok nodes: no containers run, pod status simulated): every manifest accepted, Revisions/Broker/Cluster reconciled, broken copies rejected
	@cache=$$(bash platform/clustertest/build.sh) && "$$cache/clustertest" -repo "$(CURDIR)" -bin "$$cache"

acceptance: ## the black-box suite of ../shared/acceptance against a freshly started all-in-one server
	bash .ci/acceptance.sh

tour: ## README's tour, line by line, against a fresh all-in-one server: each line prints what its comment says
	bash .ci/tour.sh

fuzz: ## zzuf-mutated and hand-written malformed requests over every route of a fresh all-in-one server: no 5xx, JSON errors
	@command -v zzuf >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq --no-install-recommends zzuf >/dev/null; } || true
	bash .ci/blackbox.sh

lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet -tags e2e ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.7.0 -tags e2e ./...

bench: ## Go benchmarks (see BENCHMARKS.md for the load-tool runs)
	$(GO) test -tags e2e -run '^$$' -bench . -benchmem ./...

load: ## the seed's load scenarios (vegeta) against BASE_URL (default make run's, http://localhost:8080): SCENARIO=baseline|peak|viral|pareto|mixed|all, DURATION=1m; exits 1 on any unexpected status
	$(GO) run ./functions/cmd/load -scenario $(SCENARIO) -base $(BASE_URL) $(if $(DURATION),-duration $(DURATION))

capacity: ## per-pod capacity and start-to-ready of each function at 1 CPU, from the real binary → platform/autoscaling/measured.json
	$(GO) run ./functions/cmd/capacity

autoscale-sim: ## Knative's autoscaler on the seed's scenarios, today's knobs vs the recommended ones → platform/autoscaling/
	cd platform && $(GO) run ./cmd/autoscale-sim

build: ## build and push the one image of every function (func CLI, host builder); its digest lands in .func/built-image
	func build --path . --builder host --image $(IMAGE) --push

# func deploy rewrites func.yaml and makes .func/, so each function deploys from a copy.
deploy: ## deploy each function from the image built once (BUILT_IMAGE or .func/built-image)
	@img=$${BUILT_IMAGE:-$$(cat .func/built-image)}; for f in $(FUNCTIONS); do d=$$(mktemp -d); cp functions/$$f/func.yaml $$d/; func deploy --path $$d --image "$$img" --build=false || exit 1; done

manifests: ## render every function's Knative Service from its func.yaml: make manifests | kubectl apply -f -
	@cd platform && $(GO) run ./cmd/manifests -image "$${BUILT_IMAGE:-$(IMAGE)}"

platform: ## install Knative, Kourier behind Traefik, CNPG and Valkey on the cluster
	bash platform/install.sh

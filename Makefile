# `make help` lists the targets. The two that matter: `make run` and `make test`.
GO ?= go
export CGO_ENABLED ?= 0

# The packages where goroutines meet: run under the race detector by test-long.
RACE_PKGS = ./shared/emulator/... ./shared/tickets ./shared/resultfetch ./shared/httpapi ./shared/devstack \
	./shared/platform ./shared/ocr ./shared/archive/... ./shared/secretstore/... \
	./shared/quota/... ./shared/tenants ./shared/kick/... ./shared/setup ./shared/ratelimit ./shared/metrics ./shared/imagefit \
	$(PROVIDER_PKGS)
# Every provider package (it has a descriptor.go): a new one is raced too.
PROVIDER_PKGS = $(patsubst %/descriptor.go,./%,$(wildcard shared/*/descriptor.go))
# The long suites, left to test-long.
LONG_TESTS = ^TestRotationUnderLoad$$
GOTESTSUM = $(GO) tool gotestsum --format pkgname-and-test-fails --format-hide-empty-pkg

.PHONY: help run test test-long race lint lint-api build package bench bench-memory fuzz

help: ## list the targets
	@awk -F':.*## ' '/^[a-z][a-zA-Z_-]*:.*## /{printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## the whole stack on 127.0.0.1, port PORT (default 8080), with the embedded emulators; no cloud account
	$(GO) run ./cmd/local </dev/null

test: lint ## format, vet, staticcheck, every test but the long ones; ends with a summary line
	$(GOTESTSUM) -- -count=1 -timeout 15m -skip '$(LONG_TESTS)' ./... </dev/null

test-long: ## the long suites: 60 s rotation, race detector on the concurrent packages, 10 s fuzzing per target
	$(GOTESTSUM) -- -count=1 -timeout 10m -run '$(LONG_TESTS)' ./shared/tickets/rotation </dev/null
	$(MAKE) race
	./scripts/fuzz.sh 10s </dev/null

race: ## the race detector on the packages where goroutines meet
	CGO_ENABLED=1 $(GOTESTSUM) -- -race -count=1 -timeout 20m $(RACE_PKGS) </dev/null

lint: ## gofmt, go vet (default, AWS and SCF builds), staticcheck; works without .git
	@out=$$(find . -name '*.go' -not -path './.git/*' -not -path './dist/*' -print0 | xargs -0 gofmt -l); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags lambda.norpc,cardocr_aws ./...
	$(GO) vet -tags lambda.norpc,cardocr_scf ./...
	$(GO) tool staticcheck ./... </dev/null

lint-api: ## lint docs/openapi.yaml with Redocly's CLI (from npm: needs Node and the registry)
	npx --yes @redocly/cli@2.77.0 lint docs/openapi.yaml </dev/null

build: ## dist/aws/<fn>/bootstrap (linux/arm64) and dist/scf/<fn>/bootstrap (linux/amd64)
	./scripts/build.sh

package: build ## zip archives of the builds for each cloud
	./scripts/package.sh

bench: ## cold start, binary size, peak memory, overhead and throughput (the README table)
	./scripts/bench.sh

bench-memory: ## peak RSS of the real binaries: uploads streamed, the API Gateway path, a phone photo fitted
	./scripts/bench-memory.sh

fuzz: ## every fuzz target for 10 s
	./scripts/fuzz.sh 10s

# ---------------------------------------------------------------------------
# AWS SAM (template.yaml, BuildMethod: makefile): `sam build` runs
# build-<LogicalId> with ARTIFACTS_DIR set. The binaries come from
# scripts/build.sh (dist/aws/<fn>/bootstrap, linux/arm64); scripts/deploy-aws.sh
# runs it before `sam build`. Checked by shared/descriptors.
sam_artifact = @test -x dist/aws/$(1)/bootstrap || { echo "dist/aws/$(1)/bootstrap is missing: run make build (or scripts/deploy-aws.sh)" >&2; exit 1; }; \
	mkdir -p "$(ARTIFACTS_DIR)" && cp dist/aws/$(1)/bootstrap "$(ARTIFACTS_DIR)/bootstrap" && chmod 0755 "$(ARTIFACTS_DIR)/bootstrap"

.PHONY: build-TicketRefreshFunction build-IdCardSubmitFunction build-BankCardSubmitFunction \
	build-OcrResultFunction build-BankCardResultFunction build-ResultFetchFunction

build-TicketRefreshFunction:
	$(call sam_artifact,ticketrefresh)
build-IdCardSubmitFunction:
	$(call sam_artifact,idcardsubmit)
build-BankCardSubmitFunction:
	$(call sam_artifact,bankcardsubmit)
build-OcrResultFunction:
	$(call sam_artifact,ocrresult)
build-BankCardResultFunction:
	$(call sam_artifact,bankcardresult)
build-ResultFetchFunction:
	$(call sam_artifact,resultfetch)

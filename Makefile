# The two commands that matter: `make run` (local stack) and `make test`.
GO ?= go
export CGO_ENABLED ?= 0

.PHONY: run test build package bench fuzz lint

run:
	$(GO) run ./cmd/local

# Everything CI checks: format, vet, staticcheck, unit + end-to-end tests, short fuzzing.
test: lint
	$(GO) test -count=1 -timeout 20m ./...
	./scripts/fuzz.sh 3s

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags lambda.norpc,cardocr_aws ./...
	$(GO) vet -tags lambda.norpc,cardocr_scf ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

build:
	./scripts/build.sh

package: build
	./scripts/package.sh

bench:
	./scripts/bench.sh

fuzz:
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

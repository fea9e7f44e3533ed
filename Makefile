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
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

build:
	./scripts/build.sh

package: build
	./scripts/package.sh

bench:
	./scripts/bench.sh

fuzz:
	./scripts/fuzz.sh 10s

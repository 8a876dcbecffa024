# Provisioner. The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
BIN := bin/provisioner
GO ?= go
# The OpenAI spec the conformance tests validate against (CI sets it).
OPENAI_SPEC ?=
export OPENAI_SPEC

.PHONY: run demo build test lint generate check-generated css migrate bench dev clean

## run: build, then serve on $$ADDR (default :8080): with DATABASE_URL, creates that database
## if missing and migrates it; without, runs a private PostgreSQL in ./.data
run: build
	./$(BIN) serve

## demo: build, then serve a demo with sandbox OpenAI: seeded companies in a database of
## its own, demo staff accounts whose new passwords it prints
demo: build
	./$(BIN) demo

build:
	$(GO) build -o $(BIN) ./cmd/provisioner

## test: lint, check generated code is committed, run every test against the local PostgreSQL
test: check-generated lint
	@command -v chromium >/dev/null || echo "⚠️  chromium is missing: the browser tests will be skipped (apt-get install -y chromium)"
	$(GO) test -race -count=1 -timeout 20m ./...

## lint: go vet and staticcheck (pinned in go.mod as a tool); any finding fails
lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## generate: regenerate templ views, sqlc queries (and CSS when npm is available)
generate:
	$(GO) tool templ generate
	$(GO) tool sqlc generate

## check-generated: fail when regenerating templ/sqlc output changes committed files
check-generated: generate
	@if [ -n "$$(git status --porcelain -- views internal/db/dbgen)" ]; then \
		echo "Generated code is out of date; run 'make generate' and commit:"; \
		git status --porcelain -- views internal/db/dbgen; \
		git --no-pager diff --stat -- views internal/db/dbgen; \
		exit 1; \
	fi

## css: rebuild static/css/app.css and vendor htmx (needs npm; the output is committed)
css:
	npm ci
	npm run build:css
	npm run build:js

migrate: build
	./$(BIN) migrate

## bench: measure signup, company list, backfill and memory against their goals
## (bench/RESULTS.md); SCALE=small is a quick check, the default is full
SCALE ?= full
bench:
	$(GO) run ./cmd/provisioner-bench -scale $(SCALE)

## dev: live-reload templ views while editing
dev:
	$(GO) tool templ generate --watch --proxy=http://localhost:8080 --cmd="$(GO) run ./cmd/provisioner serve"

clean:
	rm -rf bin

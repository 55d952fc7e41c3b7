# The two set-up commands are "make run" and "make test" (see README.md).
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin
# Fyne logs a harmless error when the locale is plain C.
export LANG := en_GB.UTF-8

.PHONY: run run-cluster test build bench screenshots package clean-demo

## run: build both programs, start kmcr-server with demo data on 127.0.0.1,
## enrol a demo profile and open the kmcr window connected to it.
run:
	scripts/ensure-deps.sh run
	scripts/run-demo.sh

## run-cluster: the central record on a PostgreSQL of its own with two
## kmcr-server nodes (127.0.0.1:8443 and :8444) and the window enrolled.
run-cluster:
	scripts/ensure-deps.sh run-cluster
	scripts/run-cluster.sh

## test: formatting, vet, staticcheck, the race-enabled test suite against the
## real OS keyring (gnome-keyring under dbus-run-session) and Xvfb, and the
## Windows cross-build of both programs.
test:
	scripts/ensure-deps.sh test
	scripts/test.sh

## build: the three programs into ./bin.
build:
	scripts/ensure-deps.sh build
	go build -o bin/ ./cmd/kmcr ./cmd/kmcr-server ./cmd/kmcr-bench

## bench: the speed goals, as ratios against baselines measured in the same run.
bench: build
	bin/kmcr-bench

## screenshots: PNGs of each main screen in both themes, into docs/screenshots.
screenshots:
	scripts/ensure-deps.sh test
	scripts/screenshots.sh

## package: a Linux bundle of kmcr with the fyne tool (it reads cmd/kmcr/FyneApp.toml).
package:
	scripts/ensure-deps.sh build
	cd cmd/kmcr && go run fyne.io/tools/cmd/fyne@v1.7.4 package -os linux -release

clean-demo:
	rm -rf .demo .demo-cluster

#!/usr/bin/env bash
# Builds the real trace backends that the tests, the benchmark and `npm run demo -- --jaeger` run,
# pinned, from their published Go modules, into .cache/tools/bin/ (git ignores .cache/):
#   otelcol-cni-trace  the OpenTelemetry Collector, built by the collector builder from
#                      collector-config/builder-config.yaml (the shipped configs' components)
#   jaeger             Jaeger v2 (github.com/jaegertracing/jaeger/cmd/jaeger): all-in-one on the
#                      collector, memory storage, query API; the published module has no UI assets
#   containerd/        containerd 2.x (github.com/containerd/containerd/v2): containerd (CRI built
#                      in), containerd-shim-runc-v2 and ctr, with the tags that need no C library
# A binary is reused while the pins it was built from (kept beside it in NAME.pin) are unchanged.
# Go's module and build caches in $HOME make a rebuild after a clean clone quick; the first build
# on a machine takes minutes (README, "Quick start"). Needs Go ≥ 1.25 and the Go module proxy.
#   scripts/tools.sh          build what is missing, print the binaries' paths
#   scripts/tools.sh --check  exit 1 if something would be built (builds nothing)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILDER_VERSION=v0.159.0 # the release of every component in builder-config.yaml
JAEGER_VERSION=v1.75.0   # the Go module's tag of Jaeger v2.12.0
JAEGER_V2=v2.12.0
CONTAINERD_VERSION=v2.4.2 # its go.mod: go-cni v1.1.14, libcni v1.3.1 (passes TRACEPARENT)
# Makefile's defaults plus the snapshotters that need C libraries (btrfs) or a device set-up.
CONTAINERD_TAGS="urfave_cli_no_docs no_btrfs no_devmapper no_zfs"

tools=$PWD/.cache/tools
mkdir -p "$tools/bin"
# One build at a time: tests, setup.sh and the demo may all ask at once.
exec 9>"$tools/.lock"
flock 9

collector_pin="builder $BUILDER_VERSION, manifest $(sha256sum collector-config/builder-config.yaml | cut -c1-64)"
jaeger_pin="jaeger $JAEGER_VERSION ($JAEGER_V2)"
containerd_pin="containerd $CONTAINERD_VERSION, tags $CONTAINERD_TAGS"
current() { [ -x "$tools/bin/$1" ] && [ "$(cat "$tools/bin/$1.pin" 2>/dev/null)" = "$2" ]; }

if [ "${1:-}" = --check ]; then
  current otelcol-cni-trace "$collector_pin" && current jaeger "$jaeger_pin" && current containerd/containerd "$containerd_pin"
  exit
fi

# -buildvcs=false: the build dirs sit inside this checkout, whose git state is not theirs to stamp.
export GOFLAGS="-mod=mod -buildvcs=false"
took() { echo "tools: $1 built in $((SECONDS - $2)) s" >&2; }

if ! current otelcol-cni-trace "$collector_pin"; then
  start=$SECONDS
  echo "tools: building the OpenTelemetry Collector (builder $BUILDER_VERSION) into .cache/tools …" >&2
  GOBIN=$tools/bin go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
  rm -rf "$tools/otelcol"
  # --output-path is deprecated in favour of the manifest's dist.output_path, which would tie the
  # manifest to this checkout's layout.
  "$tools/bin/builder" --config collector-config/builder-config.yaml --output-path "$tools/otelcol" 2>"$tools/otelcol-build.log" \
    || { tail -n 40 "$tools/otelcol-build.log" >&2; exit 1; }
  install -m 0755 "$tools/otelcol/otelcol-cni-trace" "$tools/bin/otelcol-cni-trace"
  echo "$collector_pin" >"$tools/bin/otelcol-cni-trace.pin"
  took otelcol-cni-trace "$start"
fi

if ! current jaeger "$jaeger_pin"; then
  start=$SECONDS
  echo "tools: building Jaeger $JAEGER_V2 into .cache/tools …" >&2
  # `go install module@version` refuses modules with replace directives, and Jaeger's has one:
  # build it from a module of our own that requires it and repeats that replace.
  src=$tools/jaeger-src
  rm -rf "$src" && mkdir -p "$src"
  cat >"$src/go.mod" <<EOF
module cni-trace.local/jaeger-build

go 1.24.6

replace github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0
EOF
  (cd "$src" && go get "github.com/jaegertracing/jaeger@$JAEGER_VERSION" \
    && go build -trimpath -o "$tools/bin/jaeger" \
      -ldflags "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=$JAEGER_V2" \
      github.com/jaegertracing/jaeger/cmd/jaeger)
  echo "$jaeger_pin" >"$tools/bin/jaeger.pin"
  took jaeger "$start"
fi

if ! current containerd/containerd "$containerd_pin"; then
  start=$SECONDS
  echo "tools: building containerd $CONTAINERD_VERSION into .cache/tools …" >&2
  # A dir of its own: the tests put it first on containerd's PATH, which is where containerd
  # looks for its shim.
  rm -rf "$tools/bin/containerd" && mkdir -p "$tools/bin/containerd"
  pkg=github.com/containerd/containerd/v2
  ld="-X $pkg/version.Version=$CONTAINERD_VERSION -X $pkg/version.Package=$pkg"
  GOBIN=$tools/bin/containerd go install -trimpath -tags "$CONTAINERD_TAGS" -ldflags "$ld" \
    "$pkg/cmd/containerd@$CONTAINERD_VERSION" "$pkg/cmd/ctr@$CONTAINERD_VERSION"
  # The shim as the Makefile builds it: static, without the gRPC server.
  CGO_ENABLED=0 GOBIN=$tools/bin/containerd go install -trimpath -tags "$CONTAINERD_TAGS no_grpc" -ldflags "$ld" \
    "$pkg/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
  echo "$containerd_pin" >"$tools/bin/containerd/containerd.pin"
  took containerd "$start"
fi

echo "$tools/bin/otelcol-cni-trace"
echo "$tools/bin/jaeger"
echo "$tools/bin/containerd/containerd"

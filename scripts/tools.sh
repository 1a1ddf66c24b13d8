#!/usr/bin/env bash
# Builds the real trace backends that the tests, the benchmark and `npm run demo -- --jaeger` run,
# pinned, from their published Go modules, into .cache/tools/bin/ (git ignores .cache/):
#   otelcol-cni-trace  the OpenTelemetry Collector, built by the collector builder from
#                      collector-config/builder-config.yaml (the shipped configs' components)
#   jaeger             Jaeger v2 (github.com/jaegertracing/jaeger/cmd/jaeger): all-in-one on the
#                      collector, memory storage, query API; the published module has no UI assets
#   containerd/        containerd 2.x (github.com/containerd/containerd/v2): containerd (CRI built
#                      in), containerd-shim-runc-v2 and ctr, with the tags that need no C library
#   cni-plugins        containernetworking/plugins at its current release, every Linux plugin, into
#                      .cache/tools/cni-plugins/ (a CNI_PATH dir next to Debian's 1.1.1 in /usr/lib/cni)
#   flannel/           flannel's CNI plugin, from containernetworking/plugins v0.9.1, the last
#                      release holding it before it moved to github.com/flannel-io/cni-plugin
#                      (which the module proxy here refuses: docs/decisions.md 35)
# A binary is reused while the pins it was built from (kept beside it in NAME.pin) are unchanged.
# Go's module and build caches in $HOME make a rebuild after a clean clone quick; the first build
# on a machine takes minutes (README, "Quick start"). Needs Go ≥ 1.25 and the Go module proxy.
#   scripts/tools.sh [TOOL…]          build what is missing (all tools, or the named), print their paths
#   scripts/tools.sh --check [TOOL…]  exit 1 if something would be built (builds nothing)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILDER_VERSION=v0.159.0 # the release of every component in builder-config.yaml
JAEGER_VERSION=v1.75.0   # the Go module's tag of Jaeger v2.12.0
JAEGER_V2=v2.12.0
CONTAINERD_VERSION=v2.4.2 # its go.mod: go-cni v1.1.14, libcni v1.3.1 (passes TRACEPARENT)
# Makefile's defaults plus the snapshotters that need C libraries (btrfs) or a device set-up.
CONTAINERD_TAGS="urfave_cli_no_docs no_btrfs no_devmapper no_zfs"
CNI_PLUGINS_VERSION=v1.10.0 # github.com/containernetworking/plugins
FLANNEL_FROM=v0.9.1         # github.com/containernetworking/plugins/plugins/meta/flannel

tools=$PWD/.cache/tools
mkdir -p "$tools/bin"
# One build at a time: tests, setup.sh and the demo may all ask at once.
exec 9>"$tools/.lock"
flock 9

collector_pin="builder $BUILDER_VERSION, manifest $(sha256sum collector-config/builder-config.yaml | cut -c1-64)"
jaeger_pin="jaeger $JAEGER_VERSION ($JAEGER_V2)"
containerd_pin="containerd $CONTAINERD_VERSION, tags $CONTAINERD_TAGS"
cni_plugins_pin="containernetworking/plugins $CNI_PLUGINS_VERSION"
flannel_pin="flannel from containernetworking/plugins $FLANNEL_FROM"
# A tool is an executable in bin/ or a directory of them (cni-plugins), beside its NAME.pin.
current() { [ -x "$tools/bin/$1" ] && [ "$(cat "$tools/bin/$1.pin" 2>/dev/null)" = "$2" ]; }

check=false
[ "${1:-}" = --check ] && { check=true; shift; }
all=(otelcol-cni-trace jaeger containerd cni-plugins flannel)
wanted=("$@")
((${#wanted[@]})) || wanted=("${all[@]}")
for t in "${wanted[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "tools: unknown tool $t (known: ${all[*]})" >&2; exit 2; }
done
want() { [[ " ${wanted[*]} " == *" $1 "* ]]; }
pin_of() { case $1 in otelcol-cni-trace) echo "$collector_pin" ;; jaeger) echo "$jaeger_pin" ;; containerd) echo "$containerd_pin" ;; cni-plugins) echo "$cni_plugins_pin" ;; flannel) echo "$flannel_pin" ;; esac; }
# Where a tool's executable is under bin/: containerd's dir also holds its shim and ctr.
path_of() { case $1 in containerd) echo containerd/containerd ;; flannel) echo flannel/flannel ;; *) echo "$1" ;; esac; }

if $check; then
  for t in "${wanted[@]}"; do current "$(path_of "$t")" "$(pin_of "$t")" || exit 1; done
  exit 0
fi

# -buildvcs=false: the build dirs sit inside this checkout, whose git state is not theirs to stamp.
export GOFLAGS="-mod=mod -buildvcs=false"
took() { echo "tools: $1 built in $((SECONDS - $2)) s" >&2; }

if want otelcol-cni-trace && ! current otelcol-cni-trace "$collector_pin"; then
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

if want jaeger && ! current jaeger "$jaeger_pin"; then
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

if want containerd && ! current containerd/containerd "$containerd_pin"; then
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

if want cni-plugins && ! current cni-plugins "$cni_plugins_pin"; then
  start=$SECONDS
  echo "tools: building containernetworking/plugins $CNI_PLUGINS_VERSION into .cache/tools …" >&2
  # Its linux_only.txt list plus the platform-neutral ones; upstream's release build is static
  # (CGO_ENABLED=0) and stamps the version that `plugin --version` prints.
  pkgs=()
  for p in ipam/dhcp ipam/host-local ipam/static main/bridge main/host-device main/ipvlan main/loopback main/macvlan \
    main/ptp main/vlan main/dummy main/tap meta/portmap meta/tuning meta/bandwidth meta/firewall meta/sbr meta/vrf; do
    pkgs+=("github.com/containernetworking/plugins/plugins/$p@$CNI_PLUGINS_VERSION")
  done
  rm -rf "$tools/bin/cni-plugins.new" && mkdir -p "$tools/bin/cni-plugins.new"
  CGO_ENABLED=0 GOBIN=$tools/bin/cni-plugins.new go install -trimpath \
    -ldflags "-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" "${pkgs[@]}"
  rm -rf "$tools/bin/cni-plugins" && mv "$tools/bin/cni-plugins.new" "$tools/bin/cni-plugins"
  echo "$cni_plugins_pin" >"$tools/bin/cni-plugins.pin"
  took cni-plugins "$start"
fi

if want flannel && ! current flannel/flannel "$flannel_pin"; then
  start=$SECONDS
  echo "tools: building flannel's CNI plugin (containernetworking/plugins $FLANNEL_FROM) into .cache/tools …" >&2
  # A dir of its own, for a CNI_PATH entry that adds flannel and nothing else.
  rm -rf "$tools/bin/flannel" && mkdir -p "$tools/bin/flannel"
  CGO_ENABLED=0 GOBIN=$tools/bin/flannel go install -trimpath "github.com/containernetworking/plugins/plugins/meta/flannel@$FLANNEL_FROM"
  echo "$flannel_pin" >"$tools/bin/flannel/flannel.pin"
  took flannel "$start"
fi

for t in "${wanted[@]}"; do echo "$tools/bin/$(path_of "$t")"; done

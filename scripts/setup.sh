#!/usr/bin/env bash
# Set-up for a fresh Debian or Ubuntu machine, as root: the Debian packages the plugin's
# tests and demo use (real CNI plugins, dnsmasq's binary as the DHCP server of the dhcp plugin's
# test (dnsmasq-base: no service is started), iptables, Go + libcni source for the test runtime,
# podman + runc, containerd (its CRI plugin; the tests start their own, never the package's unit),
# busybox for the podman and sandbox images, tmux, gcc + libc6-dev for the nested-call shim
# (wrapper/nested-shim.c, compiled static by the build); Prometheus's binary, unpacked, for the
# dashboard tests), the collector, Jaeger, containerd 2.x and the current CNI plugins (scripts/tools.sh), Node/npm if missing, and the npm
# packages (which pin Node 24 for this project and build dist/). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(containernetworking-plugins dnsmasq-base iptables golang-go golang-github-appc-cni-dev podman runc containerd busybox-static tmux iproute2 util-linux gcc libc6-dev)
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Prometheus, for the test that runs the Grafana dashboard's queries against real scrapes of the
# agent: Debian's binary only, unpacked into .cache/ (installing the package would start a daemon).
if [ ! -x .cache/prometheus/usr/bin/prometheus ]; then
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1); then
    apt-get update -q && (cd "$tmp" && apt-get download -q prometheus)
  fi
  mkdir -p .cache/prometheus && dpkg-deb -x "$tmp"/prometheus_*.deb .cache/prometheus
  rm -rf "$tmp"
fi

# The real trace backends for the end-to-end tests and `npm run demo -- --jaeger`: the
# OpenTelemetry Collector (collector-config/builder-config.yaml), Jaeger v2, containerd 2.x and the
# current containernetworking/plugins release beside Debian's, built pinned from their Go modules
# into .cache/tools/ (minutes the first time; nothing when already built).
bash scripts/tools.sh >/dev/null

# bandwidth's ifb devices need the module; it is loaded on demand on most kernels.
modprobe ifb 2>/dev/null || true

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build
echo "setup: ready ($(node_modules/.bin/node --version), $(go version | cut -d' ' -f3))"

#!/usr/bin/env bash
# Installs the Debian 12 packages nodehealth builds, runs and tests with.
# Idempotent: packages already present are not touched and apt is not even
# consulted when nothing is missing.
#   scripts/install-deps.sh            build + run dependencies
#   scripts/install-deps.sh --test     plus what the test suite drives
#   scripts/install-deps.sh --bench    plus what `make bench` drives (node_exporter as the peer)
#   scripts/install-deps.sh --fuzz     plus clang-16 and its libFuzzer runtime (`make fuzz`)
set -euo pipefail

build_pkgs=(
  g++ make pkg-config
  libyaml-cpp-dev libspdlog-dev libfmt-dev prometheus-cpp-dev
  nlohmann-json3-dev libcurl4-openssl-dev libseccomp-dev libcivetweb-dev zlib1g-dev libssl-dev libcrypt-dev
  libbpf-dev bpftool clang llvm
)
test_pkgs=(
  catch2 prometheus curl python3 python3-yaml openssl stress-ng util-linux procps iproute2
  nftables e2fsprogs
  clang-format cppcheck systemd chromium
)
bench_pkgs=(
  prometheus-node-exporter stress-ng util-linux procps python3
)
fuzz_pkgs=(
  clang-16 libclang-rt-16-dev
)

want=("${build_pkgs[@]}")
for arg in "$@"; do
  case "$arg" in
    --test) want+=("${test_pkgs[@]}") ;;
    --bench) want+=("${bench_pkgs[@]}") ;;
    --fuzz) want+=("${fuzz_pkgs[@]}") ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# prometheus is only used as a scraper in tests, and node_exporter only as the
# bench's peer (which starts its own on loopback); keep their services from
# starting (and binding :9090 / :9100) on install.
if printf '%s\n' "${missing[@]}" | grep -qxE 'prometheus|prometheus-node-exporter'; then
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
fi
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Installs the Debian packages dualpeer and its tests need, only when something is missing.
# Usage: hack/deps.sh [run|test]
set -euo pipefail
want=(ip:iproute2 nft:nftables openssl:openssl mosquitto_pub:mosquitto-clients ping:iputils-ping flock:util-linux)
if [ "${1:-run}" = test ]; then
  want+=(mosquitto:mosquitto chromium:chromium)
fi
missing=()
for w in "${want[@]}"; do
  cmd=${w%%:*} pkg=${w#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "hack/deps.sh: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "hack/deps.sh: need root to apt-get install ${missing[*]}; rerun with sudo" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

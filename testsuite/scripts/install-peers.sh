#!/usr/bin/env bash
# install-peers.sh installs the real third-party software the testsuite runs against
# (see shared/PEERS.md): OpenLDAP, SimpleSAMLphp, Apache with mod_auth_openidc,
# PostgreSQL, Chromium, and the Node peers from the lock file. It is idempotent and
# never starts a system service.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

packages=(slapd ldap-utils simplesamlphp php-cli php-xml php-mbstring
  apache2 libapache2-mod-auth-openidc postgresql chromium chromium-driver openssl libnss3-tools)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # A policy-rc.d that refuses every start keeps the package scripts from starting
  # slapd, apache2 or postgresql as system services listening on all interfaces.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  trap '[ $created_policy -eq 1 ] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
  echo "install-peers: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -f "$here/../node/package-lock.json" ]; then
  (cd "$here/../node" && npm ci --no-audit --no-fund --silent)
fi

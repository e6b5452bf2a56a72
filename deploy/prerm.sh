#!/bin/sh
# Before the package is removed: stop the service and disable it, so nothing starts a
# binary that is about to go. An upgrade leaves both alone (postinstall restarts it).
# dpkg passes "remove" (or "upgrade NEW-VERSION", ...), rpm the number of versions left
# afterwards (0 on removal). $DPKG_ROOT (dpkg --root) removes from another tree: no
# service of this system is touched then.
set -e
case "$1" in
  remove|0) ;;
  *) exit 0 ;;
esac
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
  # deb-systemd-invoke honours policy-rc.d (chroots, image builds); rpm has systemctl only.
  if command -v deb-systemd-invoke >/dev/null; then
    deb-systemd-invoke stop abusewatch.service || true
  else
    systemctl stop abusewatch.service || true
  fi
fi
if command -v systemctl >/dev/null; then
  if [ -n "${DPKG_ROOT:-}" ]; then
    systemctl --root="$DPKG_ROOT" disable abusewatch.service || true
  else
    systemctl --no-reload disable abusewatch.service || true
  fi
fi

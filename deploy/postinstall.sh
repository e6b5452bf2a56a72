#!/bin/sh
# After installing the package: create the user and directories; the admin edits the
# config and starts the service (nothing is reported before the config says who we are).
# After an upgrade a running service is restarted onto the new binary. dpkg passes
# "configure OLD-VERSION" (empty on a first install), rpm the number of versions now
# installed (2 during an upgrade). $DPKG_ROOT (dpkg --root) installs into another tree:
# no service of this system is touched then.
set -e
if command -v systemd-sysusers >/dev/null; then systemd-sysusers ${DPKG_ROOT:+"--root=$DPKG_ROOT"} abusewatch.conf; fi
if command -v systemd-tmpfiles >/dev/null; then systemd-tmpfiles ${DPKG_ROOT:+"--root=$DPKG_ROOT"} --create abusewatch.conf; fi
upgrade=
case "$1" in
  configure) [ -z "${2:-}" ] || upgrade=yes ;;
  [2-9]*) upgrade=yes ;;
esac
# dpkg resolves the config's group when it unpacks, on this system even with --root: a
# tree's new group is unknown there, and a first install gives the config to it here.
conf="${DPKG_ROOT:-}/etc/abusewatch/abusewatch.toml"
if [ -z "$upgrade" ] && [ -f "$conf" ] && [ "$(stat -c %g "$conf")" = 0 ]; then
  gid=$(awk -F: '$1 == "abusewatch" { print $3 }' "${DPKG_ROOT:-}/etc/group")
  if [ -n "$gid" ]; then chgrp "$gid" "$conf"; fi
fi
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  if [ -n "$upgrade" ]; then
    if command -v deb-systemd-invoke >/dev/null; then
      deb-systemd-invoke try-restart abusewatch.service || true
    else
      systemctl try-restart abusewatch.service || true
    fi
  fi
fi
if [ -z "$upgrade" ]; then
  echo "abusewatch: edit /etc/abusewatch/abusewatch.toml, run 'runuser -u abusewatch -- abusewatch check-config', then 'systemctl enable --now abusewatch'."
fi

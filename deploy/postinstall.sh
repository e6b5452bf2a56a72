#!/bin/sh
# After installing the package: create the user and directories; the admin edits the
# config and starts the service (nothing is reported before the config says who we are).
# After an upgrade a running service is restarted onto the new binary, once that binary's
# check-config accepts the config (run as the service's user). dpkg passes
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
# Before an upgrade restarts the service, the new binary checks the config as the
# service's user: a version may refuse what an older one let pass, and a restart would
# take the service down. A refused config is not restarted onto: the running daemon
# goes on with the old version until the admin fixes the config and restarts it.
restart=yes
if [ -n "$upgrade" ] && [ -z "${DPKG_ROOT:-}" ]; then
  bin=$(command -v abusewatch || echo /usr/bin/abusewatch)
  as=
  if command -v runuser >/dev/null && getent passwd abusewatch >/dev/null; then as="runuser -u abusewatch --"; fi
  if $as "$bin" check-config /etc/abusewatch/abusewatch.toml; then
    echo "abusewatch: the new version accepts /etc/abusewatch/abusewatch.toml."
  else
    restart=
    echo "abusewatch: the new version refuses /etc/abusewatch/abusewatch.toml (above): the service is NOT restarted, and a running daemon goes on with the old version." >&2
    echo "abusewatch: fix the config, then: runuser -u abusewatch -- abusewatch check-config && systemctl restart abusewatch" >&2
  fi
fi
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  if [ -n "$upgrade" ] && [ -n "$restart" ]; then
    echo "abusewatch: restarting the service onto the new version, if it runs."
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

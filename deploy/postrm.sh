#!/bin/sh
# After the package's files are gone. On remove the state database, the config and the
# abusewatch user stay, so a reinstall carries on where it stopped. Purge (dpkg only)
# deletes the state in /var/lib/abusewatch and the shipped config's leftovers (dpkg
# removes the conffile itself); files the admin added to /etc/abusewatch stay, and so
# does the user, whose id files elsewhere may still carry. dpkg passes "remove", "purge",
# "upgrade NEW-VERSION", ...; rpm the number of versions left (0 on removal); $DPKG_ROOT
# (dpkg --root) is the tree removed from.
set -e
case "$1" in
  remove|0)
    if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
    ;;
  purge)
    rm -rf "${DPKG_ROOT:-}/var/lib/abusewatch"
    rm -f "${DPKG_ROOT:-}/etc/abusewatch/abusewatch.toml.new"
    rmdir "${DPKG_ROOT:-}/etc/abusewatch" 2>/dev/null || true
    ;;
esac

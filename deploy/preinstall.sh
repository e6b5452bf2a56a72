#!/bin/sh
# Before the files are unpacked: create the abusewatch system user and group, so the
# package's root:abusewatch config and directory get their group (dpkg and rpm resolve
# owner names when they unpack). The entries are those of deploy/abusewatch.sysusers,
# which is not on disk yet. $DPKG_ROOT (dpkg --root) installs into another tree.
set -e
if command -v systemd-sysusers >/dev/null; then
  systemd-sysusers ${DPKG_ROOT:+"--root=$DPKG_ROOT"} --replace=/usr/lib/sysusers.d/abusewatch.conf - <<'SYSUSERS'
u abusewatch - "abusewatch daemon" /var/lib/abusewatch
m abusewatch adm
m abusewatch systemd-journal
SYSUSERS
elif [ -z "${DPKG_ROOT:-}" ] && ! getent passwd abusewatch >/dev/null; then
  getent group abusewatch >/dev/null || groupadd --system abusewatch
  useradd --system --gid abusewatch --home-dir /var/lib/abusewatch --no-create-home \
    --shell /usr/sbin/nologin --comment "abusewatch daemon" abusewatch
  if getent group adm >/dev/null; then usermod --append --groups adm abusewatch; fi
fi

#!/bin/sh
# After installing the package: create the user and directories; the admin edits the
# config and starts the service (nothing is reported before the config says who we are).
set -e
if command -v systemd-sysusers >/dev/null; then systemd-sysusers /usr/lib/sysusers.d/abusewatch.conf; fi
if command -v systemd-tmpfiles >/dev/null; then systemd-tmpfiles --create /usr/lib/tmpfiles.d/abusewatch.conf; fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
echo "abusewatch: edit /etc/abusewatch/abusewatch.toml, run 'abusewatch check-config', then 'systemctl enable --now abusewatch'."

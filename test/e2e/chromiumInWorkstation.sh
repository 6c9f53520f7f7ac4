#!/usr/bin/env bash
# Chromium in the workstation namespace, for playwright's executablePath (browser.ts): playwright
# drives it over inherited pipes (--remote-debugging-pipe), which cross namespaces, while the page
# reaches code-server on the workstation's 127.0.0.1.
exec "$(dirname "$(readlink -f "$0")")/../cluster/ws" "${CHROMIUM:-/usr/bin/chromium}" "$@"

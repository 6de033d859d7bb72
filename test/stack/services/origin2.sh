#!/usr/bin/env bash
# origin2: nginx tarball origin, see origin.sh
exec "$(dirname "$0")/origin.sh" "${1:?usage: origin2.sh install|start|stop|status}" 2

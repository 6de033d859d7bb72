#!/usr/bin/env bash
# origin1: nginx tarball origin, see origin.sh
exec "$(dirname "$0")/origin.sh" "${1:?usage: origin1.sh install|start|stop|status}" 1

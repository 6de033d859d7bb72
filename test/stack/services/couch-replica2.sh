#!/usr/bin/env bash
# couch-replica2: see couch.sh
exec "$(dirname "$0")/couch.sh" "${1:?usage: couch-replica2.sh install|start|stop|status}" replica2

#!/usr/bin/env bash
# couch-replica1: see couch.sh
exec "$(dirname "$0")/couch.sh" "${1:?usage: couch-replica1.sh install|start|stop|status}" replica1

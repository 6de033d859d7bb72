#!/usr/bin/env bash
# couch-primary: see couch.sh
exec "$(dirname "$0")/couch.sh" "${1:?usage: couch-primary.sh install|start|stop|status}" primary

#!/bin/sh
if [ -e "$1.started-once" ]; then sleep 1; exit 0; fi
: > "$1.started-once"
echo "working long" >&2
sleep 600

#!/bin/sh
if [ -e "$1.failed-once" ]; then exit 0; fi
: > "$1.failed-once"
echo transient >&2
exit 1

#!/bin/sh
if [ -e "$1.killed-once" ]; then exit 0; fi
: > "$1.killed-once"
kill -9 $$

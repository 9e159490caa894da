#!/bin/sh
echo "$1 working" >&2
sleep "$2"

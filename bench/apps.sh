# What bench/run.sh and bench/interleave.sh share about the reference apps in bench/apps/.
# shellcheck shell=bash

# Source edit per app: this file gets "hello from the" changed.
# shellcheck disable=SC2034 # used by the scripts that source this file
declare -A SRC_FILE=([rust]=src/main.rs [go]=main.go [node]=src/greet.js [python]=greeter/app.py)

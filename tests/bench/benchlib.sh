# benchlib.sh - what the shell benchmarks share; sourced after their env file.
# shellcheck shell=bash

# stack - the stack's commands on the env file's instance: its name, its ports
# and its build (the STACK_* values stack up wrote there), never building
stack() {
    STACK_INSTANCE=$INSTANCE STACK_PG_PORT=$STACK_PG_PORT STACK_KAFKA_PORT=$STACK_KAFKA_PORT \
        STACK_KAFKA_CONTROLLER_PORT=$STACK_KAFKA_CONTROLLER_PORT \
        STACK_HTTP_PORT_BASE=$STACK_HTTP_PORT_BASE STACK_BUILD_DIR=$BUILD_DIR STACK_NO_BUILD=1 \
        "$SHANTANG_ROOT/deploy/local/stack" "$@" >/dev/null
}

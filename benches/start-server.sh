# start-server.sh -- sourced by benches/syscalls.sh and benches/allocs.sh: starts one server on
# a free port of 127.0.0.1 for a measurement. Expects DIR (the document root) and CPU_SERVER.
#
#   start_server NAME COMMAND   # {PORT} and {DIR} in COMMAND are filled in; the server runs in
#                               # the background, pinned to CPU_SERVER, its output dropped;
#                               # sets SERVER_PID and SERVER_PORT once it accepts connections,
#                               # or exits the script if it does not within 5 seconds.

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() {
    local name=$1 command=$2
    SERVER_PORT=$(free_port)
    command=${command//\{PORT\}/$SERVER_PORT}
    # shellcheck disable=SC2086
    taskset -c "$CPU_SERVER" ${command//\{DIR\}/$DIR} >/dev/null 2>&1 &
    SERVER_PID=$!
    local up=""
    for _ in $(seq 50); do
        if python3 -c "import socket; socket.create_connection(('127.0.0.1', $SERVER_PORT)).close()" \
            2>/dev/null; then
            up=1
            break
        fi
        sleep 0.1
    done
    [ -n "$up" ] || { echo "$name did not start: $command" >&2; kill "$SERVER_PID"; exit 1; }
}

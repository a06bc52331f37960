#!/bin/sh
# nginx.sh PORT DIR -- nginx serving DIR on 127.0.0.1:PORT for benches/load.py: in the
# foreground, one worker, access log off, `sendfile`, directory listings (`autoindex`), and
# `/hello` answering 200 "Hello, world!" like examples/bench_hello.rs. Keep-alive connections
# are not recycled (hyper has no per-connection request limit either). Execs nginx, so this
# script's PID is the master's.
set -eu
PORT=${1:?usage: nginx.sh PORT DIR}
DIR=$(cd "${2:?usage: nginx.sh PORT DIR}" && pwd)
RUN=$(mktemp -d "${TMPDIR:-/tmp}/basehttp-bench-nginx.XXXXXX")
user=""
[ "$(id -u)" = 0 ] && user="user root;"
cat >"$RUN/nginx.conf" <<CONF
daemon off;
worker_processes 1;
$user
pid $RUN/nginx.pid;
error_log $RUN/error.log warn;
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $RUN/body;
    proxy_temp_path $RUN/proxy;
    fastcgi_temp_path $RUN/fastcgi;
    uwsgi_temp_path $RUN/uwsgi;
    scgi_temp_path $RUN/scgi;
    server {
        listen 127.0.0.1:$PORT;
        root $DIR;
        autoindex on;
        location = /hello { default_type text/html; return 200 "Hello, world!"; }
    }
}
CONF
exec nginx -p "$RUN/" -e "$RUN/error.log" -c "$RUN/nginx.conf"

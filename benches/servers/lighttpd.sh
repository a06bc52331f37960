#!/bin/sh
# lighttpd.sh PORT DIR -- lighttpd serving DIR on 127.0.0.1:PORT for benches/load.py: in the
# foreground, one process, no access log, directory listings, and `mod_cgi` running
# /cgi-bin/*.sh and *.py by their `#!` line. Keep-alive connections are not recycled. Execs
# lighttpd, so this script's PID is lighttpd's.
set -eu
PORT=${1:?usage: lighttpd.sh PORT DIR}
DIR=$(cd "${2:?usage: lighttpd.sh PORT DIR}" && pwd)
RUN=$(mktemp -d "${TMPDIR:-/tmp}/basehttp-bench-lighttpd.XXXXXX")
cat >"$RUN/lighttpd.conf" <<CONF
server.modules = ( "mod_dirlisting", "mod_cgi" )
server.document-root = "$DIR"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$RUN/error.log"
server.max-connections = 4096
server.max-fds = 16384
server.max-keep-alive-requests = 1000000
index-file.names = ( "index.html" )
dir-listing.activate = "enable"
mimetype.assign = ( ".html" => "text/html", ".txt" => "text/plain", "" => "application/octet-stream" )
\$HTTP["url"] =~ "^/cgi-bin/" {
    dir-listing.activate = "disable"
    cgi.assign = ( ".sh" => "", ".py" => "" )
}
CONF
exec lighttpd -D -f "$RUN/lighttpd.conf"

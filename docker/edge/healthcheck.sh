#!/bin/bash
# Health check of the edge image: GET /linkreport-status over bash's /dev/tcp (no HTTP
# client in the image) from the address nginx listens on, loopback for a wildcard.
# Healthy when nginx answers 200 with the module's counters.
set -u
listen=${LINKREPORT_EDGE_LISTEN:-8080}
port=${listen##*:}
host=127.0.0.1
case $listen in
  *:*)
    host=${listen%:*}
    case $host in '*'|0.0.0.0) host=127.0.0.1 ;; '[::]') host=::1 ;; \[*\]) host=${host#[}; host=${host%]} ;; esac ;;
esac
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /linkreport-status HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
reply=$(timeout 2 cat <&3) || exit 1
[[ $reply == "HTTP/1."?" 200 "* && $reply == *redirects* ]] || { printf '%s\n' "${reply%%$'\r'*}"; exit 1; }

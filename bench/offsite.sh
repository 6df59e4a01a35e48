#!/usr/bin/env bash
# Offsite bench (issue 18): lfb-copy of one large artifact to a local S3
# server (moto) against `aws s3 cp`, wall time and peak RSS of each, median
# of RUNS runs. One row for bench/RESULTS.md; kept apart from the bench
# harness (bench/src), which measures the other tools.
#
#   bench/offsite.sh [SIZE_MB] [RUNS]        (defaults: 300 MB, 3 runs)
#
# Rows:
#   lfb-copy        upload in 16 MiB parts, 4 at once, each checked by the
#                   service's MD5 (ETag) of it and of the object (what
#                   lfb-copy always does; a read-back only where the ETags
#                   cannot tell, e.g. SSE-KMS buckets)
#   aws s3 cp       upload only (multipart, 8 MiB parts, concurrent)
#   aws s3 cp + get upload, then download and sha256sum (a full read-back,
#                   what lfb-copy --verify does)
# Needs: cargo, moto_server (pip install 'moto[server]'), aws (awscli), GNU time.
#
# Measured 2026-12-01 04:32 UTC on the shared 2-core machine (load ~13):
#   offsite bench: 300 MB artifact to moto on 127.0.0.1, median of 3
#                                       seconds   peak RSS    ratio
#   lfb-copy (upload + verification)       7.92      70 MiB
#   aws s3 cp (upload only)                6.51      91 MiB    1.22x
#   aws s3 cp + get | sha256sum           24.46     108 MiB    0.32x
# Before (one 16 MiB part at a time, then the whole copy read back): 11.15 s,
# 21 MiB, 1.73x / 0.47x (load ~10). lfb-copy sends 4 parts at once (memory
# 4 x 16 MiB); aws sends 10 at once and checks nothing after the upload.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-300}
RUNS=${2:-3}
cargo build --release -q -p lfb-copy
LFB_COPY=$PWD/target/release/lfb-copy
AWS=${AWS:-$(command -v aws)}
work=$(mktemp -d)
trap 'kill $moto_pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export LFB_S3_ENDPOINT=http://127.0.0.1:$port AWS_ENDPOINT_URL=http://127.0.0.1:$port
export HOME=$work XDG_STATE_HOME=$work/state
"$AWS" s3 mb s3://bench >/dev/null
mkdir -p "$work/store/prod"
art=$work/store/prod/bench_db_manual_20261127T020000Z.sql.gz
head -c "${SIZE_MB}M" /dev/urandom >"$art"

measure() { # NAME COMMAND...: prints "seconds max_rss_kib"
  local name=$1; shift
  local out=()
  for i in $(seq "$RUNS"); do
    "$AWS" s3 rm --recursive --quiet s3://bench/ >/dev/null 2>&1 || true
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    out+=("$(cat "$work/time")")
  done
  printf '%s\n' "${out[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p" | { read -r s m; echo "$name $s $m"; }
}
lfb=$(measure lfb-copy "$LFB_COPY" --store "$work/store" --to s3://bench/lfb -q "$art")
cp_only=$(measure aws-cp "$AWS" s3 cp --quiet "$art" s3://bench/aws/x)
get_back() { "$AWS" s3 cp --quiet "$1" s3://bench/aws/x && "$AWS" s3 cp --quiet s3://bench/aws/x - | sha256sum; }
export -f get_back; export AWS
cp_get=$(measure aws-cp-get bash -c 'get_back "$0"' "$art")
read -r _ ls lm <<<"$lfb"; read -r _ cs cm <<<"$cp_only"; read -r _ gs gm <<<"$cp_get"
echo "offsite bench: ${SIZE_MB} MB artifact to moto on 127.0.0.1, median of $RUNS, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %8s %10s %8s\n' "" seconds "peak RSS" ratio
printf '%-34s %8.2f %7d MiB %8s\n' "lfb-copy (upload + verification)" "$ls" $((lm / 1024)) ""
printf '%-34s %8.2f %7d MiB %7.2fx\n' "aws s3 cp (upload only)" "$cs" $((cm / 1024)) "$(echo "$ls / $cs" | bc -l)"
printf '%-34s %8.2f %7d MiB %7.2fx\n' "aws s3 cp + get | sha256sum" "$gs" $((gm / 1024)) "$(echo "$ls / $gs" | bc -l)"

#!/usr/bin/env bash
# Drives one long `recur train` run over several time-limited jobs (GPU leases, batch slots, spot
# machines), carrying only the run folder each way. Each job runs one chunk: it starts the run, or
# resumes it when the folder already holds a checkpoint, trains until the time budget, saves and
# exits 0; the next job continues exactly where it stopped (same weights, optimizer, data stream
# and random state as one uninterrupted run: test/train/chunked-run.test.ts).
#
#   tools/chunked-run.sh run   RUN_DIR BUDGET [recur train flags of a new run]   # one chunk
#   tools/chunked-run.sh pack  RUN_DIR ARCHIVE.tgz     # the run folder, latest checkpoint only
#   tools/chunked-run.sh unpack ARCHIVE.tgz RUN_DIR    # replaces RUN_DIR with the archive's run
#
# A job on a machine that keeps nothing between jobs: unpack the archive brought in (if any),
# `run`, then `pack` to whatever the job hands back. Once the folder holds a checkpoint, the flags
# of a new run are ignored (a resumed run keeps its settings) except a language model's --text,
# which may have moved.
# RECUR (default `node dist/src/cli/main.js`) is the command; add `--device cuda` for the GPU.
set -euo pipefail
recur=${RECUR:-node dist/src/cli/main.js}

# The checkpoint folder that DIR/latest.json names.
latest_checkpoint() { sed -n 's/.*"checkpoint": *"\([^"]*\)".*/\1/p' "$1/latest.json"; }

usage() { sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 2; }

case "${1:-}" in
  run)
    [ $# -ge 3 ] || usage
    dir=$2 budget=$3; shift 3
    if [ -f "$dir/latest.json" ]; then
      # A resumed run keeps its settings; only --text goes along (the folder may have moved to a
      # machine where the text has another path; its hash is checked), and only to a language
      # model: the other tasks refuse --text, and a job may pass one command line to every run.
      task=$(sed -n 's/^ *"task": *"\([^"]*\)".*/\1/p' "$dir/$(latest_checkpoint "$dir")/config.json" 2>/dev/null | head -1)
      text=()
      while [ $# -gt 0 ]; do
        if [ "$1" = --text ] && [ $# -ge 2 ]; then
          case ${task:-lm} in lm) text=(--text "$2") ;; esac
          shift
        fi
        shift
      done
      exec $recur train --resume "$dir" --time-budget "$budget" "${text[@]}"
    fi
    exec $recur train --out "$dir" --time-budget "$budget" "$@"
    ;;
  pack)
    [ $# -eq 3 ] || usage
    dir=$2 archive=$3
    [ -f "$dir/latest.json" ] || { echo "chunked-run: '$dir' holds no checkpoint yet" >&2; exit 2; }
    # latest.json names the checkpoint to keep; older ckpt-* folders stay behind.
    latest=$(latest_checkpoint "$dir")
    [ -n "$latest" ] && [ -d "$dir/$latest" ] || { echo "chunked-run: '$dir/latest.json' names no checkpoint folder" >&2; exit 2; }
    files=(latest.json "$latest")
    for f in config.json log.jsonl curves.svg; do [ -e "$dir/$f" ] && files+=("$f"); done
    tar czf "$archive" -C "$dir" "${files[@]}"
    ;;
  unpack)
    [ $# -eq 3 ] || usage
    archive=$2 dir=$3
    tmp="$dir.unpack.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    tar xzf "$archive" -C "$tmp"
    [ -f "$tmp/latest.json" ] || { rm -rf "$tmp"; echo "chunked-run: '$archive' holds no run (no latest.json)" >&2; exit 2; }
    rm -rf "$dir" && mv "$tmp" "$dir"
    ;;
  *) usage ;;
esac

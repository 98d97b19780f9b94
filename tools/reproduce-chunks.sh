#!/usr/bin/env bash
# One job of the reproductions in docs/reproductions.md: a chunk of each named run, side by side on
# one machine, each continued from its packed folder in the repository and packed again into OUT.
#
#   tools/reproduce-chunks.sh BUDGET_SECONDS OUT NAME[@DELAY_SECONDS]...
#
# NAME is a folder of $RUNS (default docs/reproductions/runs) holding `flags`, the `recur train`
# flags of the run when new, and, once it has run, `run.tgz` (tools/chunked-run.sh pack). Each run
# trains for BUDGET_SECONDS minus its DELAY (a later start, so a large run allocates its memory
# after the others have), then OUT/NAME.tgz holds its packed folder and OUT/NAME.out what it
# printed. Copy OUT/NAME.tgz to $RUNS/NAME/run.tgz to commit the progress. With SPLIT=7m, archives
# are split into OUT/NAME.tgz.part-aa, -ab, … (for jobs that return files up to a size; join them
# with cat). RECUR is the command (default `node dist/src/cli/main.js`; add `--device cuda`).
set -uo pipefail
[ $# -ge 3 ] || { sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 2; }
budget=$1 out=$2; shift 2
runs=${RUNS:-docs/reproductions/runs}
work=${WORK:-runs/reproduce}
here=$(dirname "$0")
case $budget in ''|*[!0-9]*) echo "reproduce-chunks: BUDGET_SECONDS must be a whole number of seconds, got '$budget'" >&2; exit 2 ;; esac
mkdir -p "$out" "$work"

names=() delays=()
for spec in "$@"; do
  name=${spec%@*} delay=0
  [ "$spec" != "$name" ] && delay=${spec#*@}
  case $delay in ''|*[!0-9]*) echo "reproduce-chunks: the delay in '$spec' must be whole seconds" >&2; exit 2 ;; esac
  [ "$delay" -lt "$budget" ] || { echo "reproduce-chunks: the delay in '$spec' leaves no time of the ${budget} s budget" >&2; exit 2; }
  [ -f "$runs/$name/flags" ] || { echo "reproduce-chunks: '$runs/$name/flags' does not exist (the run's recur train flags)" >&2; exit 2; }
  names+=("$name") delays+=("$delay")
done

pids=()
for i in "${!names[@]}"; do
  name=${names[$i]} delay=${delays[$i]}
  rm -rf "${work:?}/$name"
  if [ -f "$runs/$name/run.tgz" ]; then bash "$here/chunked-run.sh" unpack "$runs/$name/run.tgz" "$work/$name" || exit 2; fi
  # The flags file is one line of words without quoting (commands, not shell).
  read -r -a flags < "$runs/$name/flags"
  (
    sleep "$delay"
    bash "$here/chunked-run.sh" run "$work/$name" "$((budget - delay))" "${flags[@]}" > "$out/$name.out" 2>&1
    echo "exit $?" >> "$out/$name.out"
    if [ -f "$work/$name/latest.json" ]; then
      bash "$here/chunked-run.sh" pack "$work/$name" "$out/$name.tgz"
      if [ -n "${SPLIT:-}" ]; then split -b "$SPLIT" "$out/$name.tgz" "$out/$name.tgz.part-" && rm "$out/$name.tgz"; fi
    fi
  ) &
  pids+=($!)
done

status=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}"
  last=$(grep -E '^(done|time budget)' "$out/${names[$i]}.out" | tail -1)
  echo "${names[$i]}: ${last:-$(tail -2 "$out/${names[$i]}.out" | head -1)}"
  grep -q '^exit 0$' "$out/${names[$i]}.out" || status=1
done
exit $status

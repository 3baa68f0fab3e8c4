#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make-old-records.sh: regenerate old-c32b005-prepare.bin and
# old-c32b005-state.bin (see README.md in this directory).
#
#   tests/data/make-old-records.sh OLD_BUILD OUT_DIR
#
# OLD_BUILD is the build/ directory of commit c32b005 built on its own
# (git archive c32b005 | tar -x -C /tmp/old && make -C /tmp/old all).
# Needs root (or access to /dev/kvm and to /proc/PID/fd of the VMM).
#
# It boots that commit's luvmm on its own guest-fw (2 vCPUs, heartbeat and
# memcheck), waits until both vCPUs reported, then asks for an exec-mode
# update with the test-only fault "hang-load": the old image writes the
# prepare record (offset 0 of the state memfd), the state record (offset
# 65536) and the exec block (offset 61440, written last) and execs the new
# image, which then blocks before it reads anything. The two records are
# copied out of the state memfd through /proc/PID/fd, and the VMM is killed.
set -euo pipefail

old=${1:?usage: $0 OLD_BUILD OUT_DIR}
out=${2:?usage: $0 OLD_BUILD OUT_DIR}
d=/tmp/luvmm-oldrec	# fixed: these paths are inside the config section

rm -rf "$d"
mkdir -p "$d" "$out"
cp "$old/luvmm" "$old/guest-fw.elf" "$d/"

"$d/luvmm" run --kernel "$d/guest-fw.elf" --cpus 2 --memory 64M \
	--workload heartbeat,memcheck --memcheck 4M@16M \
	--serial "file:$d/serial.log" --api "$d/api.sock" \
	--report-log "$d/reports.jsonl" 2>"$d/luvmm.err" &
pid=$!

deadline=$((SECONDS + 20))
until "$d/luvmm" ctl --api "$d/api.sock" metrics 2>/dev/null |
	grep -q '"memcheck_passes":[1-9]'; do
	if ((SECONDS > deadline)); then
		echo "the guest did not start (see $d/luvmm.err)" >&2
		kill -9 "$pid"
		exit 1
	fi
	sleep 0.1
done

"$d/luvmm" update --api "$d/api.sock" --mode exec --fault hang-load \
	--timeout 20000 >"$d/update.json" 2>&1 &

# the exec block's magic "LUEX" is written after both records
deadline=$((SECONDS + 15))
memfd=
while :; do
	if ((SECONDS > deadline)); then
		echo "no complete exec block in the state memfd" >&2
		kill -9 "$pid"
		exit 1
	fi
	for f in /proc/"$pid"/fd/*; do
		case $(readlink "$f" 2>/dev/null) in
		/memfd:luvmm-state*) memfd=$f ;;
		esac
	done
	if [ -n "$memfd" ] &&
	   [ "$(od -An -tx1 -j 61440 -N 4 "$memfd" | tr -d ' ')" = 4c554558 ]; then
		break
	fi
	sleep 0.05
done

u64() { od -An -tu8 -j "$1" -N 8 "$memfd" | tr -d ' '; }
plen=$(u64 $((61440 + 8)))
slen=$(u64 $((61440 + 16)))
guardian=$(od -An -tu4 -j $((61440 + 68)) -N 4 "$memfd" | tr -d ' ')
dd if="$memfd" of="$out/old-c32b005-prepare.bin" bs=1 count="$plen" status=none
dd if="$memfd" of="$out/old-c32b005-state.bin" bs=1 skip=65536 count="$slen" \
	status=none
kill -9 "$pid"
[ "$guardian" != 0 ] && kill -9 "$guardian" 2>/dev/null || true
wait 2>/dev/null || true
echo "prepare record: $plen bytes, state record: $slen bytes"

#!/bin/sh
# capture.sh - snapshot the CPU facts hetsched reads to tell performance cores
# from efficiency cores, so a machine we do not own can become a test fixture.
#
# Run it as a normal user (root is not needed) on Linux or macOS:
#
#     sh capture.sh
#
# It writes hetsched-capture-<hostname>-<date>.tar.gz into the current
# directory. The archive holds one directory laid out like platform/<fixture>/:
#   Linux: sys/devices/system/cpu/... (online lists, cpuN/{online,cpu_capacity,
#          topology,regs/identification,acpi_cppc}, cpuN/cpufreq symlinks,
#          cpufreq/policyN/*) and sys/devices/cpu_{core,atom,lowpower}/cpus
#   macOS: sysctl.txt, the output of `sysctl hw`
# plus capture-info.txt (kernel / OS version, CPU model name) for reviewers.
#
# Only the files listed below are copied, one by one; nothing is read through a
# symbolic link, and the only links kept are cpuN/cpufreq -> ../cpufreq/policyM,
# which stay inside the captured tree. Missing or unreadable files are skipped.
#
# HETSCHED_CAPTURE_SYSFS_ROOT=<dir> reads <dir>/sys/... instead of /sys (used to
# test this script against the fixtures in this directory).

set -u

usage() {
    cat <<'EOF'
usage: sh capture.sh [-h]

Collects the CPU topology files hetsched's detection reads (Linux sysfs, or
`sysctl hw` on macOS) into hetsched-capture-<hostname>-<date>.tar.gz in the
current directory. Needs no root and changes nothing on the machine.
EOF
}

case "${1:-}" in
    -h | --help)
        usage
        exit 0
        ;;
    "") ;;
    *)
        echo "capture.sh: unexpected argument '$1' (expected no argument or -h)" >&2
        usage >&2
        exit 2
        ;;
esac

host=$(uname -n 2>/dev/null) || host=""
# Keep the archive name a plain file name whatever the host is called.
host=$(printf '%s' "$host" | tr -c 'A-Za-z0-9._-' '_')
[ -n "$host" ] || host=unknown-host
stamp=$(date +%Y%m%d-%H%M%S)
name="hetsched-capture-$host-$stamp"
archive="$(pwd)/$name.tar.gz"

if [ -e "$archive" ]; then
    echo "capture.sh: $archive already exists; wait a second and run again" >&2
    exit 1
fi
if [ ! -w . ]; then
    echo "capture.sh: cannot write the archive into $(pwd): directory not writable; cd to a writable directory and run again" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hetsched-capture.XXXXXX") || {
    echo "capture.sh: could not create a temporary directory under ${TMPDIR:-/tmp}" >&2
    exit 1
}
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
dest="$work/$name"
mkdir -p "$dest" || exit 1

copied=0
links=0
skipped_links=0
unreadable=0

# True when no component of the relative path $1 below $src_root is a symlink,
# so reading it cannot leave the tree being captured. (sh variables are global:
# the nsp_ prefix keeps this from clobbering its callers' variables.)
no_symlink_on_path() {
    nsp_walked=$src_root
    nsp_rest=$1
    while [ -n "$nsp_rest" ]; do
        nsp_part=${nsp_rest%%/*}
        if [ "$nsp_part" = "$nsp_rest" ]; then
            nsp_rest=""
        else
            nsp_rest=${nsp_rest#*/}
        fi
        nsp_walked="$nsp_walked/$nsp_part"
        [ -L "$nsp_walked" ] && return 1
    done
    return 0
}

# copy_file REL: copy the regular file $src_root/REL to $dest/REL.
copy_file() {
    rel=$1
    src="$src_root/$rel"
    [ -f "$src" ] || return 0
    no_symlink_on_path "$rel" || return 0
    mkdir -p "$dest/${rel%/*}" || return 0
    if cat "$src" >"$dest/$rel" 2>/dev/null; then
        copied=$((copied + 1))
    else
        rm -f "$dest/$rel"
        unreadable=$((unreadable + 1))
    fi
}

link_target() {
    if command -v readlink >/dev/null 2>&1; then
        readlink "$1"
    else
        # ls -l prints "name -> target"; used only where readlink is missing,
        # and sysfs link names are plain words, so parsing ls is safe here.
        # shellcheck disable=SC2012
        ls -ld "$1" | sed 's/.* -> //'
    fi
}

# copy_policy_link REL: keep the cpuN/cpufreq symlink when it points at a
# sibling policy directory (../cpufreq/policyM); anything else is skipped.
copy_policy_link() {
    rel=$1
    src="$src_root/$rel"
    [ -L "$src" ] || return 0
    no_symlink_on_path "${rel%/*}" || return 0
    target=$(link_target "$src") || return 0
    suffix=${target#../cpufreq/policy}
    case "$target" in
        ../cpufreq/policy*) ;;
        *) suffix="" ;;
    esac
    case "$suffix" in
        "" | *[!0-9]*)
            skipped_links=$((skipped_links + 1))
            return 0
            ;;
    esac
    mkdir -p "$dest/${rel%/*}" || return 0
    ln -s "$target" "$dest/$rel" && links=$((links + 1))
}

capture_linux() {
    src_root=${HETSCHED_CAPTURE_SYSFS_ROOT:-}
    cpu=sys/devices/system/cpu
    if [ ! -d "$src_root/$cpu" ]; then
        echo "capture.sh: $src_root/$cpu not found: is sysfs mounted?" >&2
        exit 1
    fi
    for f in online possible present offline kernel_max; do
        copy_file "$cpu/$f"
    done
    ncpu_dirs=0
    for d in "$src_root/$cpu"/cpu[0-9]*; do
        [ -d "$d" ] || continue
        [ -L "$d" ] && continue
        n=${d##*/}
        case "${n#cpu}" in *[!0-9]*) continue ;; esac
        ncpu_dirs=$((ncpu_dirs + 1))
        for f in online cpu_capacity \
            topology/core_cpus_list topology/cluster_cpus_list \
            topology/package_cpus_list topology/thread_siblings_list \
            topology/core_siblings_list topology/die_cpus_list \
            topology/physical_package_id topology/die_id \
            topology/cluster_id topology/core_id \
            regs/identification/midr_el1 regs/identification/revidr_el1 \
            acpi_cppc/highest_perf acpi_cppc/nominal_perf \
            acpi_cppc/lowest_perf acpi_cppc/nominal_freq \
            acpi_cppc/lowest_freq; do
            copy_file "$cpu/$n/$f"
        done
        copy_policy_link "$cpu/$n/cpufreq"
    done
    npolicies=0
    for p in "$src_root/$cpu"/cpufreq/policy[0-9]*; do
        [ -d "$p" ] || continue
        [ -L "$p" ] && continue
        pn=${p##*/}
        case "${pn#policy}" in *[!0-9]*) continue ;; esac
        npolicies=$((npolicies + 1))
        for f in cpuinfo_max_freq cpuinfo_min_freq related_cpus affected_cpus \
            scaling_driver scaling_max_freq base_frequency; do
            copy_file "$cpu/cpufreq/$pn/$f"
        done
    done
    pmus=""
    for pmu in cpu_core cpu_atom cpu_lowpower; do
        copy_file "sys/devices/$pmu/cpus"
        if [ -f "$dest/sys/devices/$pmu/cpus" ]; then
            pmus="$pmus $pmu=$(cat "$dest/sys/devices/$pmu/cpus")"
        fi
    done
    ncap=0
    for c in "$dest/$cpu"/cpu[0-9]*/cpu_capacity; do
        [ -f "$c" ] && ncap=$((ncap + 1))
    done
    online="(unknown)"
    [ -f "$dest/$cpu/online" ] && online=$(cat "$dest/$cpu/online")

    {
        echo "captured-by: hetsched platform/capture.sh"
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "source: ${src_root:-/}sys"
        echo "uname: $(uname -srm 2>/dev/null)"
        if [ -z "$src_root" ] && [ -r /proc/cpuinfo ]; then
            # x86 names the model; arm64 lists implementer/part per CPU.
            sed -n 's/^model name[[:space:]]*: /cpu-model: /p' /proc/cpuinfo | sort | uniq -c
            sed -n 's/^CPU part[[:space:]]*: /cpu-part: /p' /proc/cpuinfo | sort | uniq -c
        fi
    } >"$dest/capture-info.txt"

    echo "hetsched capture: Linux ($(uname -sr 2>/dev/null))"
    echo "  online CPUs:        $online"
    echo "  cpuN directories:   $ncpu_dirs"
    echo "  with cpu_capacity:  $ncap"
    echo "  cpufreq policies:   $npolicies"
    echo "  Intel hybrid PMUs: ${pmus:- none}"
    echo "  files copied:       $copied (unreadable: $unreadable)"
    echo "  cpufreq links kept: $links (skipped, pointing elsewhere: $skipped_links)"
}

capture_macos() {
    sysctl_cmd=$(command -v sysctl 2>/dev/null) || sysctl_cmd=/usr/sbin/sysctl
    if ! "$sysctl_cmd" hw >"$dest/sysctl.txt" 2>/dev/null || [ ! -s "$dest/sysctl.txt" ]; then
        echo "capture.sh: '$sysctl_cmd hw' failed or printed nothing" >&2
        exit 1
    fi
    {
        echo "captured-by: hetsched platform/capture.sh"
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "uname: $(uname -srm 2>/dev/null)"
        if command -v sw_vers >/dev/null 2>&1; then
            sw_vers 2>/dev/null | sed 's/^/sw_vers: /'
        fi
        "$sysctl_cmd" -n machdep.cpu.brand_string 2>/dev/null | sed 's/^/cpu-model: /'
    } >"$dest/capture-info.txt"
    copied=1
    lines=$(wc -l <"$dest/sysctl.txt" | tr -d ' ')
    echo "hetsched capture: macOS ($(uname -sr 2>/dev/null))"
    echo "  sysctl.txt:         $lines lines of 'sysctl hw'"
    for key in hw.ncpu hw.logicalcpu hw.physicalcpu hw.nperflevels \
        hw.perflevel0.name hw.perflevel0.logicalcpu \
        hw.perflevel1.name hw.perflevel1.logicalcpu; do
        value=$(sed -n "s/^$key: //p" "$dest/sysctl.txt")
        [ -n "$value" ] && printf '  %-28s%s\n' "$key:" "$value"
    done
}

os=$(uname -s 2>/dev/null)
case "$os" in
    Linux) capture_linux ;;
    Darwin) capture_macos ;;
    *)
        echo "capture.sh: unsupported system '$os' (expected Linux or Darwin)" >&2
        exit 1
        ;;
esac

if [ "$copied" -eq 0 ]; then
    echo "capture.sh: nothing could be read; no archive written" >&2
    exit 1
fi

# tar to a file first, then gzip: no pipeline whose failure could go unnoticed.
if ! (cd "$work" && tar -cf "$name.tar" "$name"); then
    echo "capture.sh: tar failed; no archive written" >&2
    exit 1
fi
if ! gzip -c "$work/$name.tar" >"$archive"; then
    rm -f "$archive"
    echo "capture.sh: gzip failed writing $archive" >&2
    exit 1
fi

cat <<EOF

Wrote $archive
It holds only the CPU topology files listed above (see: tar -tzvf "$name.tar.gz");
its name contains this machine's host name, rename it if you prefer.

To send it: attach the archive to a new issue in the hetsched tracker, saying
what the machine is (vendor, model, CPU) and, if you know, which cores are the
fast ones. Or contribute it as a fixture yourself, from a clone of hetsched:
    tar -xzf $name.tar.gz
    mv $name platform/<vendor-chip-or-board>
    # add a row to platform/expected.tsv and a section to platform/README.md
    cargo test --test platform_fixtures
EOF

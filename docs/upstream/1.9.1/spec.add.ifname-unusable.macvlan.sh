#!/usr/bin/env bash
# cni-conform reproducer: scenario core-env-ifname-template-prefix at CNI version 0.1.0, failure 1 of 2.
# Run as root: bash core-env-ifname-template-prefix@0.1.0-1.sh
# Builds the scenario's namespaces and links with ip, replays its steps up to the failing
# one with each plugin's recorded environment and stdin, prints every output and then the
# state of every netns, and removes everything on exit.
#
# clause   spec.add.ifname-unusable (MUST)
# step     1 (add)
# expected vs actual:
#   link pod/eth0 is still present
#
# the failing execution as recorded: macvlan ADD, exit status 1
#   stdout:
#     {
#         "code": 999,
#         "msg": "failed to refetch macvlan \"eth%d\": Link not found"
#     }
#
# plugin under test: /var/cache/cni-conform/upstream/1.9.1+ds1-1/bin/macvlan

WROTE_BY='/work/main/target/debug/cni-conform'
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "run this as root: it creates network namespaces" >&2
  exit 1
fi
for tool in ip unshare nsenter; do
  command -v "$tool" >/dev/null || { echo "needs $tool (iproute2, util-linux)" >&2; exit 1; }
done
if [ -z "${CNI_CONFORM_KERNEL_RUN:-}" ] && ! unshare -n sh -c \
    'ip link add cc-probe0 type veth peer name cc-probe1 &&
     ip link add link cc-probe0 name cc-probe0.9 type vlan id 9' >/dev/null 2>&1; then
  conform=${CNI_CONFORM:-$WROTE_BY}
  [ -x "$conform" ] || conform=$(command -v cni-conform || true)
  if [ -z "$conform" ]; then
    echo "this kernel cannot make 802.1Q links, and no cni-conform was found to run this" \
      "inside User-Mode Linux: set CNI_CONFORM=/path/to/cni-conform (or modprobe 8021q)" >&2
    exit 3
  fi
  echo "this kernel cannot make 802.1Q links: running again inside User-Mode Linux" \
    "($conform kernel-run)" >&2
  exec "$conform" kernel-run -- bash "$0" "$@"
fi

SANDBOX=$(mktemp -d "${TMPDIR:-/tmp}/cni-conform-repro.XXXXXX")
mkdir "$SANDBOX/netns" "$SANDBOX/bin"
cleanup() {
  local netns
  for netns in "$SANDBOX"/netns/*; do
    umount "$netns" 2>/dev/null || true
  done
  rm -rf "$SANDBOX"
}
trap cleanup EXIT

# A netns is a file under $SANDBOX/netns kept alive by a bind mount (CNI_NETNS names one).
add_netns() {
  touch "$SANDBOX/netns/$1"
  unshare --net="$SANDBOX/netns/$1" ip link set lo up
}

in_netns() {
  local netns=$1
  shift
  nsenter --net="$SANDBOX/netns/$netns" "$@"
}

# Links first, so the netns is empty at once (the kernel dismantles a dead one later).
delete_netns() {
  local link
  for link in $(in_netns "$1" ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
    [ "$link" = lo ] || in_netns "$1" ip link delete "$link" 2>/dev/null || true
  done
  umount "$SANDBOX/netns/$1"
  rm "$SANDBOX/netns/$1"
}

# The heredoc on this function's stdin, without the newline that ends every heredoc, with
# ${SANDBOX} standing for this script's folder.
recorded_stdin() {
  local text placeholder='${SANDBOX}'
  text=$(cat; printf x)
  text=${text%x}
  text=${text%$'\n'}
  printf '%s' "${text//"$placeholder"/"$SANDBOX"}"
}

# run_plugin <netns> <recorded status> <binary> <VAR=value>... <<heredoc: runs the plugin in
# the netns with exactly these variables and the heredoc as stdin; prints its stdout and exit
# status, and notes when the status is not the recorded one ("-": not compared).
DIFFERENCES=()
run_plugin() {
  local netns=$1 recorded=$2 binary=$3 status=0
  shift 3
  recorded_stdin | in_netns "$netns" env -i "$@" "$binary" || status=$?
  printf '\n(exit status %s)\n' "$status"
  if [ "$recorded" != - ] && [ "$status" != "$recorded" ]; then
    DIFFERENCES+=("${binary##*/} exited $status, recorded $recorded")
  fi
}

# The replay is not the recording (a kernel that refused an operation, another machine): say
# so and never exit 0.
end_of_replay() {
  if [ ${#DIFFERENCES[@]} -gt 0 ]; then
    echo "REPLAY DIFFERS from the recording:" >&2
    printf '  %s\n' "${DIFFERENCES[@]}" >&2
    exit 1
  fi
}

# A link made again here gets another MAC than in the recorded run, and the recorded stdin of a
# later CHECK or DEL (prevResult) names the recorded one: give the link that MAC, or, for a link
# that has its lower link's MAC (an ipvlan), the lower link in another netns.
pin_mac() {
  in_netns "$1" ip link set dev "$2" address "$3" 2>/dev/null && return
  local lower file name
  lower=$(in_netns "$1" ip -o link show dev "$2" | sed -n 's/^[0-9]*: [^@]*@if\([0-9]*\):.*/\1/p')
  for file in "$SANDBOX"/netns/*; do
    [ -n "$lower" ] && [ "${file##*/}" != "$1" ] || continue
    name=$(in_netns "${file##*/}" ip -o link show | awk -F': ' -v i="$lower" '$1 == i { sub(/@.*/, "", $2); print $2 }')
    [ -n "$name" ] && in_netns "${file##*/}" ip link set dev "$name" address "$3" 2>/dev/null && return
  done
  echo "(could not give $1/$2 its recorded MAC $3: a later CHECK that compares MACs may differ)" >&2
}

show_state() {
  local file netns
  for file in "$SANDBOX"/netns/*; do
    netns=${file##*/}
    echo "=== netns $netns"
    in_netns "$netns" ip -d address show
    in_netns "$netns" ip route show
    in_netns "$netns" ip -6 route show 2>/dev/null || true
  done
}

echo '### topology'
add_netns 'node'
add_netns 'pod'
in_netns node ip link add 'master0' netns "$SANDBOX/netns/"'node' type veth peer name 'master0-peer' netns "$SANDBOX/netns/"'node'
in_netns 'node' ip link set 'master0' up
in_netns 'node' ip link set 'master0-peer' up
ln -s '/var/cache/cni-conform/upstream/1.9.1+ds1-1/bin/macvlan' "$SANDBOX/bin/"'macvlan'
for fixture in conform-veth conform-ipam; do ln -s '/work/main/target/debug/cni-conform' "$SANDBOX/bin/$fixture"; done

echo '### step 1 (add)'
echo '--- macvlan ADD (recorded: exit status 1)'
run_plugin node 1 "$SANDBOX"'/bin/macvlan' \
  'CNI_ARGS=' \
  'CNI_COMMAND=ADD' \
  'CNI_CONTAINERID=conform-ctr' \
  'CNI_IFNAME=eth%d' \
  'CNI_NETNS='"$SANDBOX"'/netns/pod' \
  'CNI_PATH='"$SANDBOX"'/bin:/opt/cni/bin:/usr/lib/cni' \
  'PATH=/root/.cargo/bin:/root/.cargo/bin:/root/.pyenv/plugins/pyenv-virtualenv/shims:/root/.pyenv/shims:/root/.pyenv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' <<'CNI_STDIN_1'
{"type":"macvlan","master":"master0","mode":"bridge","ipam":{"type":"conform-ipam","addresses":[{"address":"10.10.0.2/24","gateway":"10.10.0.1"}],"routes":[{"dst":"10.99.0.0/16","gw":"10.10.0.1"}],"callLog":"${SANDBOX}/ipam.log"},"name":"core","cniVersion":"0.1.0"}
CNI_STDIN_1

echo '### state after step 1 (add)'
show_state
end_of_replay

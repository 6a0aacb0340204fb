#!/bin/bash
# ADD -> CHECK (prevResult = ADD's result) -> DEL -> DEL for each type; prints compact JSON.
# Usage (docs/upstream-plugins-source.md; logs beside it):
#   UML_MODULES="8021q veth ipv6 macvlan ipvlan bridge tun dummy" \
#     ci/uml-run docs/upstream-plugins-source/cycle.sh /var/cache/cni-conform/upstream/current/bin new
#   (and the same with /usr/lib/cni old)
BIN=$1; L=$2
W=/tmp/uf-exp/cycle-$L; rm -rf "$W"; mkdir -p "$W"
C=/run/netns/ufcyc$L
ip link set lo up
ip link add m0 type veth peer name m0p; ip link set m0 up; ip link set m0p up
echo "== $L ($BIN) kernel $(uname -r)"
run() { # CMD TYPE CONF
  local out rc
  out=$(printf '%s' "$3" | env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND=$1 CNI_CONTAINERID=ctr1 CNI_NETNS=$C CNI_IFNAME=eth0 CNI_PATH="$BIN" "$BIN/$2" 2>"$W/err"); rc=$?
  LAST=$(python3 -c 'import json,sys; d=sys.stdin.read(); print(json.dumps(json.loads(d),separators=(",",":")) if d.strip() else "")' <<<"$out" 2>/dev/null || echo "$out")
  echo "  $1 -> exit $rc ${LAST}$( [ -s "$W/err" ] && echo " stderr: $(tr '\n' ' ' <"$W/err")")"
}
for t in macvlan ipvlan vlan bridge ptp host-device tap dummy; do
  [ -x "$BIN/$t" ] || { echo "-- $t: not in $BIN"; continue; }
  ip netns add ufcyc$L
  ipam="\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":\"10.88.0.0/24\"}]],\"routes\":[{\"dst\":\"10.99.0.0/16\"}],\"dataDir\":\"$W/ipam\"}"
  case $t in
    macvlan|ipvlan) extra='"master":"m0",' ;;
    vlan) extra='"master":"m0","vlanId":7,' ;;
    bridge) extra='"bridge":"ufcbr0","isGateway":true,' ;;
    host-device) ip link add hd0 type veth peer name hd0p; extra='"device":"hd0",' ;;
    *) extra= ;;
  esac
  conf="{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"$t\",$extra$ipam"
  echo "-- $t: $conf}"
  run ADD $t "$conf}"
  echo "     container: $(ip -n ufcyc$L -d -o link show eth0 2>/dev/null | grep -o 'eth0[^ ]*\|mtu [0-9]*\|state [A-Z]*\|link/ether [^ ]*\|macvlan mode [a-z]*\|ipvlan  *mode [a-z0-9]*\|vlan protocol [^ ]* id [0-9]*\|veth\|tun type [a-z]*\|dummy' | tr '\n' ' ') $(ip -n ufcyc$L -o addr show dev eth0 2>/dev/null | awk '{print $4}' | tr '\n' ' ')"
  [ $t = host-device ] && echo "     container eth0 alias: $(ip -n ufcyc$L -o link show eth0 | grep -o 'alias [^ ]*')"
  run CHECK $t "$conf,\"prevResult\":$LAST}"
  run DEL $t "$conf}"
  [ $t = host-device ] && echo "     host after DEL: $(ip -br link | awk '{print $1}' | tr '\n' ' ')"
  run DEL $t "$conf}"
  ip netns del ufcyc$L; ip link del hd0 2>/dev/null; ip link del ufcbr0 2>/dev/null
done

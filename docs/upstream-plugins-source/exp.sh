#!/bin/bash
# Experiments on upstream CNI plugins (docs/upstream-plugins-source.md). Usage: exp.sh BIN LABEL [native|uml]
# Runs in the current network namespace as "host"; creates netns ufx<LABEL>c (/run/netns) and
# works in /tmp/uf-exp/. How the logs beside it were made:
#   unshare -n docs/upstream-plugins-source/exp.sh /var/cache/cni-conform/upstream/current/bin new native
#   unshare -n docs/upstream-plugins-source/exp.sh /usr/lib/cni old native
#   UML_MODULES="8021q veth ipv6 macvlan ipvlan bridge tun dummy" \
#     ci/uml-run docs/upstream-plugins-source/exp.sh /var/cache/cni-conform/upstream/current/bin new uml
#   (and the same with /usr/lib/cni old uml)
BIN=$1; L=$2; MODE=${3:-native}
W=/tmp/uf-exp/work-$L-$MODE; rm -rf "$W"; mkdir -p "$W"
P=ufx$L
C=/run/netns/${P}c
ip link set lo up
ipam() { echo "\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":\"10.77.$1.0/24\"}]],\"dataDir\":\"$W/ipam\"}"; }
cni() { # CMD PLUGIN IFNAME NETNS CONF
  local out rc
  local vars=(PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$1" CNI_PATH="$BIN")
  case $1 in ADD|DEL|CHECK) vars+=(CNI_CONTAINERID=ctr1) ;; esac
  [ -n "$3" ] && vars+=(CNI_IFNAME="$3")
  [ -n "$4" ] && vars+=(CNI_NETNS="$4")
  out=$(printf '%s' "$5" | env -i "${vars[@]}" "$BIN/$2" 2>"$W/err"); rc=$?
  LAST=$out
  local shown="(unset)"; [ -n "$3" ] && shown="'$3'"
  echo "  $1 $2 CNI_IFNAME=$shown CNI_NETNS=${4:-(unset)} -> exit $rc"
  [ -n "$out" ] && echo "    stdout: $out"
  [ -s "$W/err" ] && echo "    stderr: $(tr '\n' ' ' < "$W/err")"
}
fresh() { ip netns del ${P}c 2>/dev/null; ip netns add ${P}c; ip -n ${P}c link set lo up; }
links() { echo "    container links: $(ip -n ${P}c -br link | awk '$1!="lo"{print $1}' | tr '\n' ' ')"; echo "    host links: $(ip -br link | awk '$1!="lo"{print $1}' | tr '\n' ' ')"; }
ip link add m0 type veth peer name m0p; ip link set m0 up; ip link set m0p up
echo "== $L ($BIN) on $MODE kernel $(uname -r)"
echo "-- 1. CNI_IFNAME with %d"
for t in macvlan tap bridge ptp host-device ipvlan vlan dummy; do
  fresh
  case $t in
    macvlan|ipvlan) conf="{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"$t\",\"master\":\"m0\",$(ipam 1)}" ;;
    vlan) conf="{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"vlan\",\"master\":\"m0\",\"vlanId\":7,$(ipam 2)}" ;;
    tap) conf='{"cniVersion":"1.0.0","name":"n","type":"tap"}' ;;
    bridge) conf='{"cniVersion":"1.0.0","name":"n","type":"bridge","bridge":"ufxbr0"}' ;;
    ptp) conf="{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"ptp\",$(ipam 3)}" ;;
    host-device) ip link add hd0 type veth peer name hd0p; conf='{"cniVersion":"1.0.0","name":"n","type":"host-device","device":"hd0"}' ;;
    dummy) conf="{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"dummy\",$(ipam 4)}" ;;
  esac
  [ -x "$BIN/$t" ] || { echo "  ($t: not in $BIN)"; continue; }
  cni ADD $t 'eth%d' $C "$conf"; links
  echo "    host-local leases: $(ls "$W/ipam/n" 2>/dev/null | grep -v lock | tr '\n' ' ')"
  cni DEL $t 'eth%d' $C "$conf"; links
  ip link del hd0 2>/dev/null; ip link del hd0p 2>/dev/null; ip link del ufxbr0 2>/dev/null
  ip -br link | awk '$1 ~ /^veth/ {print $1}' | sed 's/@.*//' | while read -r v; do ip link del "$v"; done
  rm -rf "$W/ipam"
done
echo "-- 2. bad CNI_IFNAME (skel), macvlan ADD"
fresh
for n in 'a/b' 'a b' 'a:b' 'abcdefghijklmnop' '.' '..' ''; do
  cni ADD macvlan "$n" $C '{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"m0"}'
done
echo "-- 3. CHECK: an IP of another sandbox interface in prevResult (macvlan, L2)"
fresh
conf='{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"m0"'
cni ADD macvlan eth0 $C "$conf}"
mac=$(ip -n ${P}c -j link show eth0 | python3 -c 'import json,sys;print(json.load(sys.stdin)[0]["address"])')
ip -n ${P}c link add net1 type veth peer name net1p; ip -n ${P}c addr add 10.9.9.9/24 dev net1; ip -n ${P}c link set net1 up; ip -n ${P}c link set net1p up
pr="{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"$mac\",\"sandbox\":\"$C\"},{\"name\":\"net1\",\"sandbox\":\"$C\"}],\"ips\":[{\"address\":\"10.9.9.9/24\",\"interface\":1}]}"
cni CHECK macvlan eth0 $C "$conf,\"prevResult\":$pr}"
pr0="{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"$mac\",\"sandbox\":\"$C\"}]}"
cni CHECK macvlan eth0 $C "$conf,\"prevResult\":$pr0}"
echo "-- 4. DEL tolerance"
for t in macvlan ipvlan vlan tap bridge ptp host-device dummy; do
  [ -x "$BIN/$t" ] || continue
  case $t in
    macvlan|ipvlan) conf="{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"$t\",\"master\":\"m0\",$(ipam 6)}" ;;
    vlan) conf="{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"vlan\",\"master\":\"m0\",\"vlanId\":7,$(ipam 6)}" ;;
    bridge) conf="{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"bridge\",\"bridge\":\"ufxbr0\",$(ipam 6)}" ;;
    host-device) conf="{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"host-device\",\"device\":\"hd0\",$(ipam 6)}" ;;
    *) conf="{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"$t\",$(ipam 6)}" ;;
  esac
  fresh
  cni DEL $t eth0 /run/netns/${P}gone "$conf"
  cni DEL $t eth0 $C "$conf"
  cni DEL $t eth0 '' "$conf"
done
echo "   master gone:"
for t in macvlan ipvlan vlan; do
  [ -x "$BIN/$t" ] || continue
  cni DEL $t eth0 $C "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"$t\",\"master\":\"gone0\",\"vlanId\":7,$(ipam 6)}"
done
echo "-- 5. bridge CHECK without IPAM, after a successful L2 ADD"
fresh
conf='{"cniVersion":"1.0.0","name":"n","type":"bridge","bridge":"ufxbr0"'
cni ADD bridge eth0 $C "$conf}"
cni CHECK bridge eth0 $C "$conf,\"prevResult\":$LAST}"
cni DEL bridge eth0 $C "$conf}"
ip link del ufxbr0 2>/dev/null
echo "-- 6. ADD with CNI_NETNS = the plugin's own netns (/proc/self/ns/net), macvlan L2"
fresh
cni ADD macvlan eth9 /proc/self/ns/net '{"cniVersion":"1.0.0","name":"n","type":"macvlan","master":"m0"}'; links
ip link del eth9 2>/dev/null
echo "-- 4b. ADD (IPAM host-local), delete the netns, then DEL: is the lease released?"
for t in macvlan ipvlan vlan tap bridge ptp dummy; do
  [ -x "$BIN/$t" ] || continue
  fresh
  br=; [ $t = bridge ] && br='"bridge":"ufxbr0",'
  conf="{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"$t\",\"master\":\"m0\",\"vlanId\":7,$br$(ipam 7)}"
  cni ADD $t eth0 $C "$conf" >"$W/add.out"; echo "  ADD $t eth0: $(head -1 "$W/add.out" | sed "s/  //") $(grep -o "\"address\": \"[^\"]*\"" <<<"$LAST" | tr "\n" " ") $(grep -o "\"msg\": .*" <<<"$LAST")"
  echo "    leases after ADD: $(ls "$W/ipam/n" 2>/dev/null | grep -v -e lock -e last_reserved | tr '\n' ' ')"
  ip netns del ${P}c
  cni DEL $t eth0 $C "$conf"
  echo "    leases left: $(ls "$W/ipam/n" 2>/dev/null | grep -v -e lock -e last_reserved | tr '\n' ' ')"
  ip link del ufxbr0 2>/dev/null; rm -rf "$W/ipam"
done
echo "-- 7. STATUS and GC (cniVersion 1.1.0)"
for t in macvlan ipvlan vlan bridge ptp host-device tap dummy; do
  [ -x "$BIN/$t" ] || continue
  cni STATUS $t '' '' "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"$t\",\"master\":\"m0\",\"device\":\"m0p\",$(ipam 5)}"
  cni GC $t '' '' "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"$t\",\"master\":\"m0\",\"device\":\"m0p\",$(ipam 5)}"
done
echo "-- 8. ADD with a CNI_NETNS that does not exist"
for t in macvlan tap dummy; do
  [ -x "$BIN/$t" ] || continue
  cni ADD $t eth0 /run/netns/nonexistent "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"$t\",\"master\":\"m0\",$(ipam 8)}"
done
if [ -x "$BIN/tap" ]; then
  echo "-- 9. tap with no ip on PATH: without owner/group, then with both"
  fresh
  for conf in '{"cniVersion":"1.0.0","name":"n","type":"tap"}' '{"cniVersion":"1.0.0","name":"n","type":"tap","owner":0,"group":0}'; do
    echo "  PATH=/nonexistent, $conf: exit $(printf '%s' "$conf" | env -i PATH=/nonexistent CNI_COMMAND=ADD CNI_CONTAINERID=c \
      CNI_NETNS=$C CNI_IFNAME=eth0 CNI_PATH="$BIN" "$BIN/tap" >"$W/out" 2>&1; echo "$?") $(tr -d '\n' <"$W/out")"
    ip -n ${P}c link del eth0 2>/dev/null
  done
fi
echo "-- 10. DEL with no ipam in the config"
fresh
for t in macvlan ipvlan vlan bridge ptp tap dummy; do
  [ -x "$BIN/$t" ] || continue
  cni DEL $t eth0 $C "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"$t\",\"master\":\"m0\",\"vlanId\":7}"
done
ip netns del ${P}c 2>/dev/null
ip link del m0 2>/dev/null
echo "== end $L"

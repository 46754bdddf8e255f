#!/usr/bin/env bash
# A throwaway two-node SLURM cluster on one machine, for testing the sbatch scripts (needs root,
# Debian packages slurm-wlm and munge).
#
#   slurm/local_cluster.sh start    # then: export SLURM_CONF=$STATE_DIR/slurm.conf
#   slurm/local_cluster.sh status
#   slurm/local_cluster.sh stop     # idempotent; removes everything start created
#
# Layout: munged and slurmctld in the host's network namespace (slurmctld in its own UTS namespace
# so it can be called advconf-ctl); slurmd advconf-n1 / advconf-n2 each in a network namespace of
# its own, joined to a bridge by a veth pair whose node end is called "$NODE_IF" on both nodes
# (so GLOO_SOCKET_IFNAME=$NODE_IF works everywhere). Everything else lives in $STATE_DIR.
set -Eeuo pipefail  # -E: the ERR trap in start() also fires inside functions

STATE_DIR=${ADVCONF_SLURM_DIR:-/tmp/advconf-slurm}
SUBNET=${ADVCONF_SLURM_SUBNET:-10.231.77}  # first three octets of a /24 for the bridge
NODES=(advconf-n1 advconf-n2)
CTL=advconf-ctl
BRIDGE=advconf-br
NODE_IF=advconf0
HOSTS_MARK="# advconf-local-cluster"
export SLURM_CONF=$STATE_DIR/slurm.conf

node_ip() { echo "$SUBNET.$((11 + $1))"; }  # node index 0, 1 -> .11, .12
in_node() { local node=$1; shift; nsenter --net="/var/run/netns/$node" "$@"; }

write_config() {
    mkdir -p "$STATE_DIR"/{ctld,munge} "${NODES[@]/#/$STATE_DIR/}"
    : > "$STATE_DIR/plugstack.conf"  # no site SPANK plugins
    cat > "$SLURM_CONF" <<EOF
ClusterName=advconf
SlurmctldHost=$CTL($SUBNET.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$STATE_DIR/munge/munge.socket,cred_expire=10
CredType=cred/munge
StateSaveLocation=$STATE_DIR/ctld
SlurmctldPidFile=$STATE_DIR/ctld/slurmctld.pid
SlurmctldLogFile=$STATE_DIR/ctld/slurmctld.log
SlurmdSpoolDir=$STATE_DIR/%n/spool
SlurmdPidFile=$STATE_DIR/%n/slurmd.pid
SlurmdLogFile=$STATE_DIR/%n/slurmd.log
PlugStackConfig=$STATE_DIR/plugstack.conf
# No cgroups: they do not nest inside containers and network namespaces.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
MinJobAge=600
SchedulerParameters=sched_interval=2
# 4 CPUs per node whatever the machine has (config_overrides): small test jobs run side by side.
NodeName=${NODES[0]} NodeAddr=$(node_ip 0) CPUs=4 State=UNKNOWN
NodeName=${NODES[1]} NodeAddr=$(node_ip 1) CPUs=4 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    local dir=$STATE_DIR/munge
    chmod 700 "$dir"
    [[ -f $dir/munge.key ]] || { head -c 1024 /dev/urandom > "$dir/munge.key"; chmod 400 "$dir/munge.key"; }
    # --force: munged refuses root and /tmp-style paths otherwise.
    munged --force --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
        --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munged.seed"
}

start_network() {
    ip link add "$BRIDGE" type bridge
    ip addr add "$SUBNET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    local i node
    for i in "${!NODES[@]}"; do
        node=${NODES[$i]}
        ip netns add "$node"
        ip link add "$node" type veth peer name "$NODE_IF" netns "$node"
        ip link set "$node" master "$BRIDGE" up
        in_node "$node" ip addr add "$(node_ip "$i")/24" dev "$NODE_IF"
        in_node "$node" ip link set "$NODE_IF" up
        in_node "$node" ip link set lo up
    done
    {
        echo "$SUBNET.1 $CTL $HOSTS_MARK"
        for i in "${!NODES[@]}"; do echo "$(node_ip "$i") ${NODES[$i]} $HOSTS_MARK"; done
    } >> /etc/hosts
}

start_daemons() {
    # A UTS namespace per daemon so that each one's hostname is its node name (srun and slurmd use it).
    unshare --uts sh -c "hostname $CTL && exec slurmctld -i -f '$SLURM_CONF'"
    local node
    for node in "${NODES[@]}"; do
        # nsenter, not `ip netns exec`: the latter remounts /sys, which breaks slurmd's start-up.
        in_node "$node" unshare --uts sh -c "hostname $node && exec slurmd -N $node -f '$SLURM_CONF'"
    done
}

wait_until_idle() {
    local deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        if [[ $(sinfo -h -N -o %T 2>/dev/null | grep -cx idle) == "${#NODES[@]}" ]]; then
            return 0
        fi
        sleep 1
    done
    echo "local_cluster: nodes did not become idle within 60 s:" >&2
    sinfo -N >&2 || true
    tail -n 20 "$STATE_DIR"/ctld/slurmctld.log "$STATE_DIR"/*/slurmd.log >&2 || true
    return 1
}

start() {
    [[ $EUID == 0 ]] || { echo "local_cluster: must run as root" >&2; exit 1; }
    if [[ -e $STATE_DIR ]]; then
        echo "local_cluster: $STATE_DIR exists; run '$0 stop' first" >&2
        exit 1
    fi
    # Anything that fails half-way leaves no half-built cluster behind.
    trap 'stop >/dev/null 2>&1' ERR
    write_config
    start_munge
    start_network
    start_daemons
    wait_until_idle
    trap - ERR
    echo "local_cluster: up; export SLURM_CONF=$SLURM_CONF"
}

kill_pidfile() {
    local pidfile=$1 pid
    [[ -f $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

stop() {
    local node pid
    if [[ -f $SLURM_CONF ]]; then
        scancel --full --quiet --partition=debug 2>/dev/null || true
    fi
    kill_pidfile "$STATE_DIR/ctld/slurmctld.pid"
    for node in "${NODES[@]}"; do
        kill_pidfile "$STATE_DIR/$node/slurmd.pid"
        if [[ -e /var/run/netns/$node ]]; then
            # Job steps left over from killed slurmds: exactly the processes inside the node's namespace.
            for pid in $(ip netns pids "$node"); do kill -9 "$pid" 2>/dev/null || true; done
            ip netns del "$node"
        fi
        ip link del "$node" 2>/dev/null || true
    done
    ip link del "$BRIDGE" 2>/dev/null || true
    kill_pidfile "$STATE_DIR/munge/munged.pid"
    if grep -q "$HOSTS_MARK" /etc/hosts; then
        # Rewrite in place: /etc/hosts is often a bind mount that cannot be replaced by a rename.
        local kept
        kept=$(grep -v "$HOSTS_MARK" /etc/hosts)
        printf '%s\n' "$kept" > /etc/hosts
    fi
    rm -rf "$STATE_DIR"
    echo "local_cluster: stopped"
}

status() {
    local name pidfile
    for pidfile in "$STATE_DIR"/munge/munged.pid "$STATE_DIR"/ctld/slurmctld.pid "$STATE_DIR"/*/slurmd.pid; do
        [[ -f $pidfile ]] || continue
        name=${pidfile#"$STATE_DIR"/}
        if kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "$name: running"; else echo "$name: dead"; fi
    done
    [[ -f $SLURM_CONF ]] || { echo "local_cluster: not running"; return 1; }
    sinfo -N
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status  (state in \$ADVCONF_SLURM_DIR, default /tmp/advconf-slurm)" >&2; exit 2 ;;
esac

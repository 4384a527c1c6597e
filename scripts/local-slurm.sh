#!/usr/bin/env bash
# A real SLURM cluster on this host, for runway's `slurm` tests and for trying --slurm.
#
#   bash scripts/local-slurm.sh start             # one node (the host's name): install (root + apt) when
#                                                 # missing, configure, start, wait for idle
#   bash scripts/local-slurm.sh start --nodes 2   # two nodes, runway-n1 and runway-n2, each slurmd in its own
#                                                 # network + UTS namespace with its own address and hostname
#   bash scripts/local-slurm.sh status            # daemons, nodes, sinfo, sacct
#   bash scripts/local-slurm.sh stop              # stop everything this script started (munged included) and
#                                                 # remove the namespaces, bridge and /etc/hosts entries
#
# Several nodes: a bridge ($BRIDGE, $SUBNET.1/24 on the host) and one veth pair per node; node i lives in
# network namespace runway-n<i> at $SUBNET.(10+i), with hostname runway-n<i> (its own UTS namespace, so
# that socket.gethostname() and gloo resolve to the node's own address, as on a real cluster). Names are
# resolvable from every namespace through a block of /etc/hosts managed by this script. No forwarding, no
# NAT: traffic stays on loopback and the bridge's private subnet. slurmctld runs on the host and answers
# on $SUBNET.1. Jobs asking for one node run on either node, so the single-node tests pass on it too.
# `start` (no --nodes) on a running cluster of any size only checks it; `start --nodes N` on a cluster of
# another size waits (up to RUNWAY_SLURM_SWITCH_WAIT s, default 600) for running jobs to end, then switches.
# Why not Slurm's multiple-slurmd mode: it needs a build with --enable-multiple-slurmd (no sign of it in
# Debian's slurm-wlm 22.05 binaries), and all its nodes share one address and host name, unlike a real
# cluster where MASTER_ADDR (the first node of SLURM_JOB_NODELIST) must resolve to another machine.
#
# What runs: munged, mariadbd (job accounting storage), slurmdbd, slurmctld, slurmd. Accounting through
# slurmdbd is what real clusters use and what submitit's `sacct` calls need; a local MariaDB starts in a
# couple of seconds. Set RUNWAY_SLURM_ACCOUNTING=0 to run without it (sacct then fails and runway falls
# back to squeue/scontrol and the jobcomp file; see docs/hpc.md).
#
# Containers have no systemd and often no usable cgroups, so the config uses proctrack/linuxproc,
# task/none and no cgroup plugins. Everything is idempotent: `start` on a running cluster just checks it.
set -euo pipefail

ACTION="${1:-start}"
shift || true
NODES=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --nodes)
        NODES="${2:-}"
        shift 2 || true
        ;;
    --nodes=*)
        NODES="${1#--nodes=}"
        shift
        ;;
    *)
        printf '[local-slurm] ERROR: unknown argument %s (usage: start [--nodes N] | stop | status | restart)\n' "$1" >&2
        exit 1
        ;;
    esac
done
if [[ -n "$NODES" && ! "$NODES" =~ ^[1-9]$ ]]; then
    printf '[local-slurm] ERROR: --nodes takes a number from 1 to 9, got %s\n' "$NODES" >&2
    exit 1
fi
CONF_DIR="${SLURM_CONF_DIR:-/etc/slurm}"
STATE_DIR="${RUNWAY_SLURM_STATE:-/var/lib/runway-slurm}"
LOG_DIR="$STATE_DIR/log"
RUN_DIR="$STATE_DIR/run"
TIMEOUT="${RUNWAY_SLURM_TIMEOUT:-60}"
ACCOUNTING="${RUNWAY_SLURM_ACCOUNTING:-1}"
NODE="$(hostname -s)"
DB_PASS="runway-local-slurm"
# Several nodes: their names, the bridge and its private subnet (a /24; the host is .1, node i is .(10+i)).
NODE_PREFIX="runway-n"
BRIDGE="${RUNWAY_SLURM_BRIDGE:-rwslurm0}"
SUBNET="${RUNWAY_SLURM_SUBNET:-10.251.0}"
HOSTS_BEGIN="# BEGIN runway local-slurm nodes (scripts/local-slurm.sh; removed by its stop)"
HOSTS_END="# END runway local-slurm nodes"
MODE_FILE="$STATE_DIR/nodes"
SWITCH_WAIT="${RUNWAY_SLURM_SWITCH_WAIT:-600}"

# How many nodes the running (or last started) cluster has: 1 unless a multi-node start recorded more.
running_nodes() { if [[ -s "$MODE_FILE" ]]; then cat "$MODE_FILE"; else echo 1; fi; }
node_names() {
    local n="$1" i
    if [[ "$n" == 1 ]]; then
        echo "$NODE"
    else
        for ((i = 1; i <= n; i++)); do echo "$NODE_PREFIX$i"; done
    fi
}
node_addr() { echo "$SUBNET.$((10 + ${1#"$NODE_PREFIX"}))"; }

log() { printf '[local-slurm] %s\n' "$*" >&2; }
die() {
    printf '[local-slurm] ERROR: %s\n' "$*" >&2
    exit 1
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    local pkgs=()
    command -v slurmctld >/dev/null || pkgs+=(slurm-wlm)
    command -v munged >/dev/null || pkgs+=(munge)
    if [[ "$ACCOUNTING" == 1 ]]; then
        command -v slurmdbd >/dev/null || pkgs+=(slurmdbd)
        command -v mariadbd >/dev/null || pkgs+=(mariadb-server)
    fi
    [[ ${#pkgs[@]} -eq 0 ]] && return 0
    [[ "$(id -u)" == 0 ]] || die "missing ${pkgs[*]}; run as root (or: sudo apt-get install -y ${pkgs[*]})"
    command -v apt-get >/dev/null || die "missing ${pkgs[*]} and no apt-get on this host; install them by hand"
    log "installing ${pkgs[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

write_configs() {
    local n="$1"
    mkdir -p "$CONF_DIR" "$LOG_DIR" "$RUN_DIR" "$STATE_DIR/ctld" "$STATE_DIR/d"
    local cpus mem_mb headroom real_mem
    cpus="$(nproc)"
    mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024))
    # Leave room for the daemons and the OS: 10% but at least 512 MB.
    headroom=$((mem_mb / 10 > 512 ? mem_mb / 10 : 512))
    real_mem=$((mem_mb - headroom))
    local acct_lines="AccountingStorageType=accounting_storage/none"
    if [[ "$ACCOUNTING" == 1 ]]; then
        acct_lines="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819"
    fi
    local ctl_addr=127.0.0.1 spool="$STATE_DIR/d" d_pid="$RUN_DIR/slurmd.pid" d_log="$LOG_DIR/slurmd.log"
    local node_lines="NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem State=UNKNOWN"
    local part_nodes="$NODE" what="one node ($NODE)"
    if [[ "$n" != 1 ]]; then
        # slurmds in their namespaces reach slurmctld on the bridge; %n = the node's name (one slurmd each).
        ctl_addr="$SUBNET.1" spool="$STATE_DIR/d/%n" d_pid="$RUN_DIR/slurmd-%n.pid" d_log="$LOG_DIR/slurmd-%n.log"
        node_lines="" part_nodes="${NODE_PREFIX}[1-$n]" what="$n nodes (${NODE_PREFIX}[1-$n], one network namespace each)"
        local name
        for name in $(node_names "$n"); do
            node_lines+="NodeName=$name NodeAddr=$(node_addr "$name") NodeHostname=$name CPUs=$cpus RealMemory=$real_mem State=UNKNOWN"$'\n'
        done
    fi
    local tmp="$CONF_DIR/.slurm.conf.tmp"
    cat >"$tmp" <<EOF
# Written by runway_for_ml scripts/local-slurm.sh: $what on this host. Regenerated on start.
ClusterName=runway-local
SlurmctldHost=$NODE($ctl_addr)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job waits cred_expire seconds before it may start again (default 120): keep tests quick.
AuthInfo=cred_expire=10
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$spool
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$d_pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$d_log
# No cgroups in a container: track processes through /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
# Re-check pending jobs every few seconds (defaults: 60 s / 30 s) so requeued jobs restart quickly.
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Requeue (preemption / scontrol requeue) must work; signals arrive fast in tests.
JobRequeue=1
KillWait=5
MinJobAge=300
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
Waittime=0
$acct_lines
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
$node_lines
PartitionName=debug Nodes=$part_nodes Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    mv "$tmp" "$CONF_DIR/slurm.conf"
    cat >"$CONF_DIR/.cgroup.conf.tmp" <<EOF
# Written by runway_for_ml scripts/local-slurm.sh: no cgroup plugins are used (see slurm.conf).
CgroupPlugin=autodetect
IgnoreSystemd=yes
EOF
    mv "$CONF_DIR/.cgroup.conf.tmp" "$CONF_DIR/cgroup.conf"
    if [[ "$ACCOUNTING" == 1 ]]; then
        cat >"$CONF_DIR/.slurmdbd.conf.tmp" <<EOF
# Written by runway_for_ml scripts/local-slurm.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$RUN_DIR/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$DB_PASS
EOF
        chmod 600 "$CONF_DIR/.slurmdbd.conf.tmp"
        mv "$CONF_DIR/.slurmdbd.conf.tmp" "$CONF_DIR/slurmdbd.conf"
    fi
}

start_munge() {
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating a munge key"
        mkdir -p /etc/munge
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        chown munge:munge /etc/munge/munge.key 2>/dev/null || true
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    if ! munge -n </dev/null >/dev/null 2>&1; then
        log "starting munged"
        if id munge >/dev/null 2>&1; then
            runuser -u munge -- /usr/sbin/munged
        else
            /usr/sbin/munged --force
        fi
        wait_for "munged" 10 bash -c 'munge -n </dev/null | unmunge >/dev/null 2>&1'
        # Remember that this script started it: `stop` stops it again (and only then).
        mkdir -p "$RUN_DIR"
        cat /run/munge/munged.pid >"$RUN_DIR/munged.started" 2>/dev/null || true
    fi
}

start_mariadb() {
    if mariadb-admin ping --silent >/dev/null 2>&1; then return 0; fi
    log "starting mariadb (accounting storage)"
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld
    [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    nohup /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
        --pid-file=/run/mysqld/mysqld.pid --skip-networking=0 --bind-address=127.0.0.1 \
        >"$LOG_DIR/mariadb.log" 2>&1 &
    wait_for "mariadb" 30 mariadb-admin ping --silent
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
                GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

start_slurmdbd() {
    if pid_alive "$RUN_DIR/slurmdbd.pid"; then return 0; fi
    log "starting slurmdbd"
    slurmdbd
    wait_for "slurmdbd" 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/6819" || {
        tail -20 "$LOG_DIR/slurmdbd.log" >&2
        die "slurmdbd did not start"
    }
}

wait_for() {
    local what="$1" secs="$2"
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log "timed out after ${secs}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

# --- nodes in network namespaces (--nodes N > 1) ------------------------------------------------------

write_hosts_block() {
    # /etc/hosts is often bind-mounted (containers): rewrite it in place, never replace the file.
    local n="$1" tmp name
    tmp="$(mktemp)"
    awk -v b="$HOSTS_BEGIN" -v e="$HOSTS_END" '$0 == b {skip = 1} !skip {print} $0 == e {skip = 0}' /etc/hosts >"$tmp"
    if [[ "$n" -gt 1 ]]; then
        {
            echo "$HOSTS_BEGIN"
            for name in $(node_names "$n"); do echo "$(node_addr "$name") $name"; done
            echo "$HOSTS_END"
        } >>"$tmp"
    fi
    cat "$tmp" >/etc/hosts
    rm -f "$tmp"
}

setup_network() {
    local n="$1" name addr i
    command -v ip >/dev/null || die "--nodes $n needs the ip command (apt-get install iproute2)"
    command -v unshare >/dev/null || die "--nodes $n needs unshare (util-linux)"
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge || die "cannot create bridge $BRIDGE (needs root / CAP_NET_ADMIN)"
    fi
    ip addr replace "$SUBNET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    for name in $(node_names "$n"); do
        i="${name#"$NODE_PREFIX"}"
        addr="$(node_addr "$name")"
        ip netns list | grep -qw "^$name" || ip netns add "$name"
        if ! ip -n "$name" link show rweth0 >/dev/null 2>&1; then
            ip link del "rwn${i}h" >/dev/null 2>&1 || true
            ip link add "rwn${i}h" type veth peer name rweth0 netns "$name"
        fi
        ip link set "rwn${i}h" master "$BRIDGE"
        ip link set "rwn${i}h" up
        ip -n "$name" addr replace "$addr/24" dev rweth0
        ip -n "$name" link set rweth0 up
        ip -n "$name" link set lo up
    done
    write_hosts_block "$n"
}

teardown_network() {
    local name i
    for name in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NODE_PREFIX[0-9]\$" || true); do
        i="${name#"$NODE_PREFIX"}"
        # Whatever still runs in the node (job steps of a killed slurmd) was started by this cluster.
        for pid in $(ip netns pids "$name" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
        ip link del "rwn${i}h" >/dev/null 2>&1 || true
        ip netns del "$name" >/dev/null 2>&1 || true
    done
    ip link del "$BRIDGE" >/dev/null 2>&1 || true
    write_hosts_block 1
}

start_slurmd() {
    local n="$1" name
    if [[ "$n" == 1 ]]; then
        pid_alive "$RUN_DIR/slurmd.pid" && return 0
        log "starting slurmd"
        slurmd
        return 0
    fi
    for name in $(node_names "$n"); do
        pid_alive "$RUN_DIR/slurmd-$name.pid" && continue
        log "starting slurmd $name at $(node_addr "$name") (network namespace $name)"
        mkdir -p "$STATE_DIR/d/$name"
        # Its own network and UTS namespace: the node's address and hostname, as a separate machine has.
        # nsenter, not `ip netns exec`: that one remounts /sys, hiding /sys/fs/cgroup from slurmd.
        nsenter --net="/run/netns/$name" unshare --uts bash -c "hostname $name && exec slurmd -N $name"
    done
}

slurmd_pidfiles() {
    local n="$1" name
    if [[ "$n" == 1 ]]; then
        echo "$RUN_DIR/slurmd.pid"
    else
        for name in $(node_names "$n"); do echo "$RUN_DIR/slurmd-$name.pid"; done
    fi
}

nodes_idle() {
    local n="$1" name state
    for name in $(node_names "$n"); do
        state="$(sinfo -h -n "$name" -o '%t' 2>/dev/null | head -1)"
        [[ "$state" == idle* || "$state" == mix* || "$state" == alloc* || "$state" == comp* ]] || return 1
    done
}

cluster_up() {
    local n="${1:-$(running_nodes)}"
    daemons_alive "$n" && nodes_idle "$n"
}

running_jobs() { squeue -h -t RUNNING,COMPLETING -o '%i' 2>/dev/null | grep -c . || true; }

daemons_alive() {
    local n="$1" f
    for f in $(slurmd_pidfiles "$n") "$RUN_DIR/slurmctld.pid"; do pid_alive "$f" || return 1; done
    scontrol ping 2>/dev/null | grep -q UP
}

start() {
    install_packages
    local current want
    current="$(running_nodes)"
    # No --nodes: the size of the running (or crashed) cluster, else one node.
    want="${NODES:-$current}"
    if daemons_alive "$current"; then
        if [[ "$want" == "$current" ]] && nodes_idle "$current"; then
            log "already running: $(node_names "$current" | tr '\n' ' ')($(sinfo -h -o '%D nodes %t' | head -1))"
            return 0
        fi
        if [[ "$want" != "$current" ]]; then
            # Switching size restarts slurmctld and the slurmds: let running jobs (other users' tests) end first.
            local deadline=$((SECONDS + SWITCH_WAIT))
            while [[ "$(running_jobs)" != 0 ]] && ((SECONDS < deadline)); do
                log "waiting for $(running_jobs) running job(s) before switching from $current to $want node(s)"
                sleep 5
            done
            [[ "$(running_jobs)" == 0 ]] || die "jobs still running after ${SWITCH_WAIT}s; not switching to $want node(s)"
            log "switching from $current to $want node(s)"
            stop_slurm
        fi
    else
        # A half-started or crashed cluster: stop what is left before starting it again.
        stop_slurm
    fi
    [[ "$want" -gt 1 ]] && setup_network "$want"
    write_configs "$want"
    mkdir -p "$STATE_DIR"
    echo "$want" >"$MODE_FILE"
    start_munge
    if [[ "$ACCOUNTING" == 1 ]]; then
        start_mariadb
        start_slurmdbd
    fi
    if ! pid_alive "$RUN_DIR/slurmctld.pid"; then
        log "starting slurmctld"
        slurmctld
    else
        scontrol reconfigure >/dev/null 2>&1 || true
    fi
    wait_for "slurmctld" 20 bash -c 'scontrol ping | grep -q UP' || {
        tail -20 "$LOG_DIR/slurmctld.log" >&2
        die "slurmctld did not answer within 20s (log: $LOG_DIR/slurmctld.log)"
    }
    start_slurmd "$want"
    if ! wait_for "the nodes to be idle" "$TIMEOUT" nodes_idle "$want"; then
        # A node left DOWN/DRAIN from an earlier run comes back with an explicit resume.
        local name
        for name in $(node_names "$want"); do scontrol update NodeName="$name" State=RESUME >/dev/null 2>&1 || true; done
        wait_for "the nodes to be idle" 10 nodes_idle "$want" || {
            sinfo -N -l >&2 || true
            tail -20 "$LOG_DIR"/slurmd*.log >&2 || true
            die "nodes not idle after ${TIMEOUT}s (logs: $LOG_DIR/)"
        }
    fi
    log "up: $(sinfo -h -o '%P %D %t %c CPUs/node %N' | head -1) (config $CONF_DIR/slurm.conf, logs $LOG_DIR)"
}

stop_pidfile() {
    local name="$1" pidfile="$2"
    if pid_alive "$pidfile"; then
        log "stopping $name"
        kill "$(cat "$pidfile")" 2>/dev/null || true
        local deadline=$((SECONDS + 15))
        while pid_alive "$pidfile" && ((SECONDS < deadline)); do sleep 0.2; done
    fi
    rm -f "$pidfile"
}

# slurmctld and every slurmd (of any size), not the accounting or munge daemons.
stop_slurm() {
    local f
    for f in "$RUN_DIR"/slurmd.pid "$RUN_DIR"/slurmd-*.pid; do
        [[ -e "$f" ]] && stop_pidfile "$(basename "$f" .pid)" "$f"
    done
    stop_pidfile slurmctld "$RUN_DIR/slurmctld.pid"
    teardown_network
}

stop() {
    stop_slurm
    stop_pidfile slurmdbd "$RUN_DIR/slurmdbd.pid"
    stop_pidfile mariadb /run/mysqld/mysqld.pid
    # munged when this script started it, or when no systemd runs on this host (then nothing but a script
    # like this one started it); a munged that systemd manages may serve other software: left alone.
    local munged_pid=""
    if [[ -s "$RUN_DIR/munged.started" ]]; then
        munged_pid="$(cat "$RUN_DIR/munged.started")"
    elif [[ ! -d /run/systemd/system && -s /run/munge/munged.pid ]]; then
        munged_pid="$(cat /run/munge/munged.pid)"
    fi
    if [[ -n "$munged_pid" ]]; then
        echo "$munged_pid" >"$RUN_DIR/munged.pid"
        stop_pidfile munged "$RUN_DIR/munged.pid"
    fi
    rm -f "$RUN_DIR/munged.started"
    rm -f "$MODE_FILE"
    log "stopped"
}

status() {
    local rc=0 n f
    n="$(running_nodes)"
    echo "nodes: $n ($(node_names "$n" | tr '\n' ' '| sed 's/ $//'))"
    for f in "$RUN_DIR/slurmctld.pid" $(slurmd_pidfiles "$n") "$RUN_DIR/slurmdbd.pid"; do
        d="$(basename "$f" .pid)"
        if pid_alive "$f"; then echo "$d: running (pid $(cat "$f"))"; else echo "$d: stopped"; fi
    done
    if munge -n </dev/null >/dev/null 2>&1; then
        echo "munged: running$([[ -s "$RUN_DIR/munged.started" ]] && echo ' (started by this script)')"
    else
        echo "munged: stopped"
    fi
    if cluster_up "$n"; then
        sinfo
        echo "sacct: $(sacct -n -X -o JobID 2>&1 | head -1 | grep -q . && echo ok || echo 'ok (no jobs yet)')"
    else
        echo "cluster: down (start it with: bash scripts/local-slurm.sh start [--nodes 2])"
        rc=1
    fi
    return $rc
}

case "$ACTION" in
start) start ;;
stop) stop ;;
status) status ;;
restart)
    stop
    start
    ;;
*) die "usage: $0 start [--nodes N]|stop|status|restart" ;;
esac

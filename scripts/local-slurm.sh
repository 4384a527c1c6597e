#!/usr/bin/env bash
# A real single-node SLURM cluster on this host, for runway's `slurm` tests and for trying --slurm.
#
#   bash scripts/local-slurm.sh start    # install (root + apt) when missing, configure, start, wait for idle
#   bash scripts/local-slurm.sh status   # daemons, sinfo, sacct
#   bash scripts/local-slurm.sh stop     # stop the daemons this script started (by their pid files)
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
CONF_DIR="${SLURM_CONF_DIR:-/etc/slurm}"
STATE_DIR="${RUNWAY_SLURM_STATE:-/var/lib/runway-slurm}"
LOG_DIR="$STATE_DIR/log"
RUN_DIR="$STATE_DIR/run"
TIMEOUT="${RUNWAY_SLURM_TIMEOUT:-60}"
ACCOUNTING="${RUNWAY_SLURM_ACCOUNTING:-1}"
NODE="$(hostname -s)"
DB_PASS="runway-local-slurm"

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
    local tmp="$CONF_DIR/.slurm.conf.tmp"
    cat >"$tmp" <<EOF
# Written by runway_for_ml scripts/local-slurm.sh: one node ($NODE) on this host. Regenerated on start.
ClusterName=runway-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job waits cred_expire seconds before it may start again (default 120): keep tests quick.
AuthInfo=cred_expire=10
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/d
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
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
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
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

node_idle() {
    local state
    state="$(sinfo -h -n "$NODE" -o '%t' 2>/dev/null | head -1)"
    [[ "$state" == idle* || "$state" == mix* || "$state" == alloc* ]]
}

cluster_up() { scontrol ping 2>/dev/null | grep -q UP && node_idle; }

start() {
    install_packages
    if pid_alive "$RUN_DIR/slurmctld.pid" && pid_alive "$RUN_DIR/slurmd.pid" && cluster_up; then
        log "already running: node $NODE is $(sinfo -h -n "$NODE" -o '%t')"
        return 0
    fi
    write_configs
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
    if ! pid_alive "$RUN_DIR/slurmd.pid"; then
        log "starting slurmd"
        slurmd
    fi
    if ! wait_for "node $NODE to be idle" "$TIMEOUT" node_idle; then
        # A node left DOWN/DRAIN from an earlier run comes back with an explicit resume.
        scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
        wait_for "node $NODE to be idle" 10 node_idle || {
            sinfo -N -l >&2 || true
            tail -20 "$LOG_DIR/slurmd.log" >&2 || true
            die "node $NODE is not idle after ${TIMEOUT}s (logs: $LOG_DIR/)"
        }
    fi
    log "up: $(sinfo -h -o '%P %D %t %c CPUs' | head -1) (config $CONF_DIR/slurm.conf, logs $LOG_DIR)"
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

stop() {
    stop_pidfile slurmd "$RUN_DIR/slurmd.pid"
    stop_pidfile slurmctld "$RUN_DIR/slurmctld.pid"
    stop_pidfile slurmdbd "$RUN_DIR/slurmdbd.pid"
    stop_pidfile mariadb /run/mysqld/mysqld.pid
    # munged is left running: other software on the host may use it.
    log "stopped"
}

status() {
    local rc=0
    for d in slurmctld slurmd slurmdbd; do
        if pid_alive "$RUN_DIR/$d.pid"; then echo "$d: running (pid $(cat "$RUN_DIR/$d.pid"))"; else echo "$d: stopped"; fi
    done
    if cluster_up; then
        sinfo
        echo "sacct: $(sacct -n -X -o JobID 2>&1 | head -1 | grep -q . && echo ok || echo 'ok (no jobs yet)')"
    else
        echo "cluster: down (start it with: bash scripts/local-slurm.sh start)"
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
*) die "usage: $0 start|stop|status|restart" ;;
esac

#!/usr/bin/env bash
# A single-node Slurm cluster on loopback, for the harness's tests and for trying the
# Slurm backend on one machine. Needs root and Debian's packages:
#   apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge
#
#   scripts/slurm-cluster.sh start    write slurm.conf, start munged, slurmctld, slurmd;
#                                     return once the node is up (prints the seconds)
#   scripts/slurm-cluster.sh stop     cancel the cluster's jobs, then stop the daemons this
#                                     script started and nothing else
#   scripts/slurm-cluster.sh status   sinfo, and the daemons this script started
#
# No systemd and no cgroups: processes are tracked with proctrack/linuxproc. The
# controller's state survives a restart, so job ids keep increasing. Settings, from the
# environment:
#   HARNESS_SLURM_DIR          state, spool, logs, pid files (default /var/tmp/harness-slurm)
#   HARNESS_SLURM_CPUS         job slots on the node (default 8, whatever the cores)
#   HARNESS_SLURM_MIN_JOB_AGE  seconds the controller remembers an ended job (default 300)
#   HARNESS_SLURM_ACCOUNTING=1 also run slurmdbd on a local MariaDB, so that `sacct` works
#                              (apt-get install -y --no-install-recommends slurmdbd
#                              mariadb-server: about 190 MB more, so CI does without it)
#   SLURM_CONF                 where slurm.conf goes (default /etc/slurm/slurm.conf, the
#                              path compiled into Debian's build: clients need no variable)
set -euo pipefail

DIR=${HARNESS_SLURM_DIR:-/var/tmp/harness-slurm}
CPUS=${HARNESS_SLURM_CPUS:-8}
MIN_JOB_AGE=${HARNESS_SLURM_MIN_JOB_AGE:-300}
ACCOUNTING=${HARNESS_SLURM_ACCOUNTING:-0}
CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
DBD_CONF=$(dirname "$CONF")/slurmdbd.conf
MARKER="# written by harness scripts/slurm-cluster.sh"
STARTED="$DIR/started"  # one line per daemon this script started: NAME PID

die() { echo "slurm-cluster: $*" >&2; exit 1; }

need() {
    local package=$1 cmd
    shift
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null ||
            die "$cmd not found: apt-get install -y --no-install-recommends $package"
    done
}

check_prerequisites() {
    [[ $(id -u) == 0 ]] || die "must run as root (the daemons switch users and bind ports)"
    need "slurmctld slurmd slurm-client munge" munged munge slurmctld slurmd sinfo
    [[ $ACCOUNTING == 1 ]] && need "slurmdbd mariadb-server" slurmdbd sacctmgr mariadbd mariadb
    local file
    for file in "$CONF" "$DBD_CONF"; do
        if [[ -e $file ]] && ! grep -qxF "$MARKER" "$file"; then
            die "$file exists and was not written by this script: refusing to replace it"
        fi
    done
}

accounting_lines() {
    if [[ $ACCOUNTING == 1 ]]; then
        echo "AccountingStorageType=accounting_storage/slurmdbd"
        echo "AccountingStorageHost=127.0.0.1"
    else
        echo "AccountingStorageType=accounting_storage/none"
    fi
}

write_conf() {
    local node memory
    node=$(hostname -s)
    memory=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n 1)
    mkdir -p "$(dirname "$CONF")" "$DIR/state" "$DIR/spool" "$DIR/log"
    cat >"$CONF.tmp" <<CONF
$MARKER
ClusterName=harness
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MailProg=/bin/true
$(accounting_lines)
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SchedulerParameters=batch_sched_delay=0
MinJobAge=$MIN_JOB_AGE
KillWait=5
SlurmdParameters=config_overrides
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=$node NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=${memory:-1000} State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
    mv "$CONF.tmp" "$CONF"
}

write_dbd_conf() {
    (
        umask 077
        cat >"$DBD_CONF" <<CONF
$MARKER
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=harness
StorageLoc=slurm_acct_db
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
CONF
    )
}

is_alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

# Remember a daemon once its pid file names a live process.
remember() {
    local name=$1 pidfile=$2 pid="" _
    for _ in $(seq 100); do
        pid=$(cat "$pidfile" 2>/dev/null || true)
        is_alive "$pid" && break
        sleep 0.1
    done
    is_alive "$pid" || die "$name did not start: see $DIR/log/"
    echo "$name $pid" >>"$STARTED"
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        echo "slurm-cluster: munged is running already; using it" >&2
        return
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- munged
    remember munged /run/munge/munged.pid
}

start_daemon() {
    local name=$1
    if is_alive "$(cat "$DIR/$name.pid" 2>/dev/null || true)"; then
        die "$name is running already (pid file $DIR/$name.pid): run \`$0 stop\` first"
    fi
    rm -f "$DIR/$name.pid"
    case $name in
        slurmctld) slurmctld -i -f "$CONF" ;;
        slurmd) slurmd -f "$CONF" ;;
        slurmdbd) slurmdbd ;;
    esac
    remember "$name" "$DIR/$name.pid"
}

# MariaDB (ours, unless one answers already), slurmdbd, and the cluster's entry in it.
start_accounting() {
    local _
    if ! mariadb -e 'SELECT 1' >/dev/null 2>&1; then
        install -d -o mysql -g mysql /run/mysqld "$DIR/mariadb"  # it runs as mysql
        setsid mariadbd --user=mysql --pid-file="$DIR/mariadb/mariadbd.pid" \
            --log-error="$DIR/mariadb/mariadb.log" </dev/null >/dev/null 2>&1 &
        remember mariadbd "$DIR/mariadb/mariadbd.pid"
        for _ in $(seq 150); do mariadb -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
    fi
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'harness';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    write_dbd_conf
    start_daemon slurmdbd
    for _ in $(seq 150); do sacctmgr -n show cluster >/dev/null 2>&1 && break; sleep 0.2; done
    sacctmgr -n -P show cluster format=cluster | grep -qx harness ||
        sacctmgr -i add cluster harness >/dev/null
}

# Up: idle, or running jobs the controller recovered from its saved state.
wait_for_node() {
    local node state="" _
    node=$(hostname -s)
    for _ in $(seq 300); do
        state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
        [[ $state =~ ^(idle|mixed|allocated|completing)$ ]] && return 0
        sleep 0.2
    done
    die "node $node is not up after 60 s (state: ${state:-none}): see $DIR/log/"
}

# Jobs outlive slurmd (their slurmstepd is a process of its own): end them first.
cancel_all_jobs() {
    local _
    squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null || true
    for _ in $(seq 150); do
        [[ -z $(squeue -h -t running,completing,suspended -o %A 2>/dev/null) ]] && return 0
        sleep 0.2
    done
    echo "slurm-cluster: some jobs did not end within 30 s" >&2
}

start() {
    local began elapsed_ms
    began=$(date +%s%N)
    check_prerequisites
    [[ -s $STARTED ]] && die "a cluster started by this script is running: run \`$0 stop\` first"
    mkdir -p "$DIR"
    : >"$STARTED"
    write_conf
    start_munge
    [[ $ACCOUNTING == 1 ]] && start_accounting
    start_daemon slurmctld
    start_daemon slurmd
    wait_for_node
    elapsed_ms=$((($(date +%s%N) - began) / 1000000))
    printf 'slurm-cluster: node %s up after %d.%03d s (%d job slots%s)\n' \
        "$(hostname -s)" $((elapsed_ms / 1000)) $((elapsed_ms % 1000)) "$CPUS" \
        "$([[ $ACCOUNTING == 1 ]] && echo ', accounting on')"
}

# Stop in reverse order, each daemon by the pid recorded at start, and only while that
# pid is still the same program.
stop() {
    [[ -f $STARTED ]] || { echo "slurm-cluster: nothing to stop" >&2; return 0; }
    local name pid file _
    if grep -q '^slurmctld ' "$STARTED"; then cancel_all_jobs; fi
    while read -r name pid; do
        if is_alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]; then
            kill -TERM "$pid"
            for _ in $(seq 100); do is_alive "$pid" || break; sleep 0.1; done
            is_alive "$pid" && kill -KILL "$pid"
            echo "slurm-cluster: stopped $name ($pid)" >&2
        fi
    done < <(tac "$STARTED")
    rm -f "$STARTED"
    for file in "$CONF" "$DBD_CONF"; do
        if [[ -e $file ]] && grep -qxF "$MARKER" "$file"; then rm -f "$file"; fi
    done
}

status() {
    sinfo || true
    if [[ -f $STARTED ]]; then cat "$STARTED"; fi
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: $0 start|stop|status" ;;
esac

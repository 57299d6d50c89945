# A single-node Slurm cluster on localhost from Debian's packages (munged, slurmctld,
# slurmd), for tests/integration/slurm.sh and tests/cluster/smoke_tier.sh. Sourced, not
# run: the caller defines fail() and $tmp (a scratch directory that this file fills:
# slurm.conf, state, spool, log/), calls start_cluster, and calls stop_cluster on exit.
# The daemons run in the foreground of background jobs, so they inherit the caller's
# nice value, and so do the jobs (PropagatePrioProcess=0). Fails, never skips.
ctld_pid= slurmd_pid=

show_logs() { tail -n 20 "$tmp"/log/*.log >&2; }

# slurmd, optionally under a wrapper (e.g. a mount namespace: a node that does not
# share a directory); returns once the node is idle.
start_slurmd() {
    "$@" slurmd -D -N pqnode > "$tmp/log/slurmd.out" 2>&1 &
    slurmd_pid=$!
    for _ in $(seq 100); do
        sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated|completing)$' && return 0
        sleep 0.2
    done
    show_logs
    fail "the single-node Slurm cluster did not start (slurmd not idle after 20 s)"
}

# A node failure: slurmd killed together with the job processes PIDS, then the node back
# (until then a killed job stays COMPLETING: only slurmd can confirm it is gone).
node_failure() {
    kill -KILL "$slurmd_pid" "$@"
    wait "$slurmd_pid" 2>/dev/null
    sleep 1
    start_slurmd
}

start_cluster() {
    local cmd
    for cmd in munged slurmctld slurmd sbatch squeue sacct scancel scontrol sinfo; do
        command -v $cmd >/dev/null || fail "$cmd not found: install munge slurmctld slurmd slurm-client (make deps)"
    done
    [ "$(id -u)" = 0 ] || fail "the test cluster's slurmd must run as root"
    mkdir -p "$tmp/state" "$tmp/spool" "$tmp/log"
    head -c 1024 /dev/urandom > "$tmp/munge.key" && chmod 600 "$tmp/munge.key"
    munged --force --socket="$tmp/munge.sock" --key-file="$tmp/munge.key" --pid-file="$tmp/munged.pid" \
        --log-file="$tmp/log/munged.log" --seed-file="$tmp/munge.seed" || fail "munged did not start"
    local port1 port2 cpus mem
    read -r port1 port2 < <(/usr/bin/python3 -c "
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(('127.0.0.1', 0))
print(*[x.getsockname()[1] for x in s])")
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
    export SLURM_CONF="$tmp/slurm.conf"
    cat > "$SLURM_CONF" <<CONF
ClusterName=pqtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port1
SlurmdPort=$port2
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge.sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$tmp/log/jobcomp.txt
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdTimeout=300
MinJobAge=300
KillWait=5
NodeName=pqnode NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=pq Nodes=pqnode Default=YES MaxTime=INFINITE State=UP
CONF
    slurmctld -D -i > "$tmp/log/slurmctld.out" 2>&1 &
    ctld_pid=$!
    start_slurmd
}

# Cancels every job, then stops the daemons this file started (by their pids).
stop_cluster() {
    if [ -n "$ctld_pid" ]; then
        scancel --full --user=root >/dev/null 2>&1
        for _ in $(seq 50); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
    fi
    for pid in $slurmd_pid $ctld_pid $(cat "$tmp/munged.pid" 2>/dev/null); do kill "$pid" 2>/dev/null; done
    for pid in $slurmd_pid $ctld_pid; do wait "$pid" 2>/dev/null; done
}

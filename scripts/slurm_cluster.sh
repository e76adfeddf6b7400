#!/usr/bin/env bash
# A one-node SLURM cluster on 127.0.0.1 from Debian's packages, to try the SLURM profile
# (workflow/profiles/slurm) on one machine and to test it (tests/test_slurm.py):
#
#   sudo bash scripts/slurm_cluster.sh start     # installs what is missing (apt-get), starts the daemons
#   snakemake --workflow-profile workflow/profiles/slurm ...
#   sudo bash scripts/slurm_cluster.sh stop      # stops every daemon it started
#   bash scripts/slurm_cluster.sh status         # the daemons it runs, and sinfo
#
# The daemons: munged (authentication), MariaDB and slurmdbd (the accounting: sacct's record
# of every job), slurmctld and slurmd. Each runs as root from its own folder under
# $SLURM_CLUSTER_DIR (default /tmp/batch_momentum_slurm), with its own ports and config, so a
# system's own MySQL is left alone (a munged already running is used as it is: munge has one
# socket per machine). /etc/slurm/slurm.conf links to the config while it runs. The node
# offers every CPU, 80% of the memory, and one GPU slot (gres gpu:1, no device behind it) so
# that a GPU request is accepted and recorded; a job that then asks CUDA for a device fails as
# on any machine without one.
#
# Needs root and, for the install, apt-get (Debian or Ubuntu). When it cannot start the
# cluster it prints one line naming what is missing and exits 2 (the test then skips).
set -euo pipefail
cmd=${1:-status}
DIR=${SLURM_CLUSTER_DIR:-/tmp/batch_momentum_slurm}
CLUSTER=bmtest
PORT_CTLD=${SLURM_CLUSTER_PORT:-16817}  # slurmctld; slurmd, slurmdbd and MariaDB use the next three
PORT_SLURMD=$((PORT_CTLD + 1)) PORT_DBD=$((PORT_CTLD + 2)) PORT_DB=$((PORT_CTLD + 3))
SYSCONF=/etc/slurm/slurm.conf  # a link to $DIR/etc/slurm.conf while the cluster runs
PACKAGES=(munge mariadb-server slurmctld slurmd slurmdbd slurm-client)
NEED=(munged mariadbd mariadb-install-db slurmctld slurmd slurmdbd sbatch sacct sacctmgr scancel sinfo)

missing_line() { echo "slurm_cluster: $*" >&2; exit 2; }

have_all() {
  local p
  for p in "${NEED[@]}"; do
    PATH=$PATH:/usr/sbin:/sbin command -v "$p" >/dev/null 2>&1 || { echo "$p"; return 1; }
  done
}

install() {
  local gone
  gone=$(have_all) && return 0
  [ "$(id -u)" = 0 ] || missing_line "$gone is not installed and installing it needs root (apt-get install ${PACKAGES[*]})"
  command -v apt-get >/dev/null 2>&1 || missing_line "$gone is not installed and there is no apt-get (Debian or Ubuntu) to install it"
  echo "slurm_cluster: installing ${PACKAGES[*]} (apt-get) ..."
  local log=$DIR/apt.log
  mkdir -p "$DIR"
  # services the packages start (on a machine with systemd) are left alone: this script runs its
  # own daemons, on other ports; only munged is shared (one socket per machine)
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${PACKAGES[@]}"; } >"$log" 2>&1; then
    tail -5 "$log" >&2
    missing_line "apt-get install ${PACKAGES[*]} failed (log: $log)"
  fi
  gone=$(have_all) || missing_line "$gone is still missing after apt-get install ${PACKAGES[*]}"
}

pidfile_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
  local n=$(($1 * 5)) what=$2
  shift 2
  while ! "$@" >/dev/null 2>&1; do
    n=$((n - 1))
    [ "$n" -gt 0 ] || { echo "slurm_cluster: $what did not come up; logs in $DIR/log" >&2; stop_all; exit 1; }
    sleep 0.2
  done
}

write_configs() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  rm -rf "$DIR/spool"  # a fresh controller state each start (a node drained before stays drained otherwise)
  mkdir -p "$DIR"/{etc,log,run,spool/ctld,spool/d,munge,db}
  chmod 700 "$DIR/munge"
  cat >"$DIR/etc/slurm.conf" <<EOF
# written by scripts/slurm_cluster.sh: a one-node cluster on 127.0.0.1
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT_CTLD
SlurmdPort=$PORT_SLURMD
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# no cgroups (a container may not offer them): processes are tracked by their parent ids
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$PORT_DBD
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
GresTypes=gpu
ReturnToService=2
MinJobAge=600
KillWait=5
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  # a GPU slot with /dev/null as its device (SLURM drops a GPU without a file): the request is
  # scheduled and recorded; no cgroup binds devices here (task/none)
  echo "NodeName=$host Name=gpu File=/dev/null" >"$DIR/etc/gres.conf"
  cat >"$DIR/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$PORT_DBD
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$PORT_DB
StorageUser=root
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$DIR/etc/slurmdbd.conf"
  cat >"$DIR/etc/my.cnf" <<EOF
[mysqld]
datadir=$DIR/db
socket=$DIR/run/mysqld.sock
pid-file=$DIR/run/mysqld.pid
bind-address=127.0.0.1
port=$PORT_DB
user=root
log-error=$DIR/log/mariadb.log
skip-name-resolve
innodb_buffer_pool_size=64M
innodb_lock_wait_timeout=900
EOF
}

start_all() {
  install
  [ "$(id -u)" = 0 ] || missing_line "starting the daemons needs root (sudo bash scripts/slurm_cluster.sh start)"
  if pidfile_alive "$DIR/run/slurmctld.pid"; then
    echo "slurm_cluster: already running (config $SYSCONF -> $DIR/etc/slurm.conf)"
    return 0
  fi
  stop_all quiet
  # The SLURM commands inside a job find the config only at its standard place: the
  # Snakemake plugin's job step clears SLURM_* variables (SLURM_CONF too) before its srun.
  if [ -e "$SYSCONF" ] && [ "$(readlink "$SYSCONF")" != "$DIR/etc/slurm.conf" ]; then
    missing_line "$SYSCONF exists (a SLURM of this machine's own): left alone; use that cluster, or move it aside"
  fi
  trap 'echo "slurm_cluster: start failed; stopping what it started (logs in $DIR/log)" >&2; stop_all' ERR
  write_configs
  mkdir -p "$(dirname "$SYSCONF")"
  ln -sfn "$DIR/etc/slurm.conf" "$SYSCONF"
  export SLURM_CONF=$DIR/etc/slurm.conf  # the daemons read gres.conf and slurmdbd.conf beside it
  local sbin=/usr/sbin
  # munge on its standard socket (the SLURM commands look for it there): a running munged is
  # used as it is; otherwise one is started with the package's key (made at install)
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [ -r /etc/munge/munge.key ] || "$sbin/mungekey" --create --keyfile=/etc/munge/munge.key
    mkdir -p /run/munge
    "$sbin/munged" --force --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
      --seed-file="$DIR/munge/seed"
    wait_for 10 munged sh -c 'munge -n | unmunge'
  fi
  # MariaDB with its own data folder, on 127.0.0.1:$PORT_DB; root logs in without a password
  if [ ! -d "$DIR/db/mysql" ]; then
    mariadb-install-db --defaults-file="$DIR/etc/my.cnf" --auth-root-authentication-method=normal \
      >"$DIR/log/mariadb-install.log" 2>&1 || { tail -5 "$DIR/log/mariadb-install.log" >&2; exit 1; }
  fi
  nohup "$sbin/mariadbd" --defaults-file="$DIR/etc/my.cnf" >>"$DIR/log/mariadb.out" 2>&1 </dev/null &
  wait_for 60 MariaDB test -S "$DIR/run/mysqld.sock"
  "$sbin/slurmdbd"  # reads slurmdbd.conf beside $SLURM_CONF
  wait_for 60 slurmdbd sacctmgr -n list cluster
  sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
  "$sbin/slurmctld" -f "$SLURM_CONF"
  wait_for 30 slurmctld scontrol ping
  "$sbin/slurmd" -f "$SLURM_CONF"
  wait_for 30 "slurmd (the node idle)" node_idle
  trap - ERR
  echo "slurm_cluster: running (config $SYSCONF -> $SLURM_CONF; logs in $DIR/log)"
}

node_idle() { sinfo -h -o %t | grep -qx "idle"; }

stop_all() {
  local quiet=${1:-} name f pid ids
  # the jobs first: a job's processes (slurmstepd and its command) outlive slurmd otherwise
  if pidfile_alive "$DIR/run/slurmctld.pid"; then
    ids=$(SLURM_CONF=$DIR/etc/slurm.conf squeue -h -o %i 2>/dev/null || true)
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      SLURM_CONF=$DIR/etc/slurm.conf scancel $ids 2>/dev/null || true
      for _ in $(seq 50); do
        [ -z "$(SLURM_CONF=$DIR/etc/slurm.conf squeue -h -t R,CG -o %i 2>/dev/null)" ] && break
        sleep 0.2
      done
    fi
  fi
  # the order matters little; each pid file names a daemon this script started
  for name in slurmd slurmctld slurmdbd mysqld munged; do
    f=$DIR/run/$name.pid
    if pidfile_alive "$f"; then
      pid=$(cat "$f")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
      [ -n "$quiet" ] || echo "slurm_cluster: stopped $name ($pid)"
    fi
    rm -f "$f"
  done
  [ "$(readlink "$SYSCONF" 2>/dev/null)" != "$DIR/etc/slurm.conf" ] || rm -f "$SYSCONF"
}

case $cmd in
  install) install ;;
  start) start_all ;;
  stop) stop_all ;;
  status)
    for name in munged mysqld slurmdbd slurmctld slurmd; do
      if pidfile_alive "$DIR/run/$name.pid"; then echo "$name running ($(cat "$DIR/run/$name.pid"))"
      else echo "$name not running"; fi
    done
    if pidfile_alive "$DIR/run/slurmctld.pid"; then sinfo; fi
    ;;
  *) echo "usage: bash scripts/slurm_cluster.sh start|stop|status|install" >&2; exit 64 ;;
esac

#!/usr/bin/env bash
# A stand-in for sbatch/qsub: submit.sh RULE THREADS JOBSCRIPT starts the job script in the
# background on this machine, logs the submission to logs/submit.log, and prints a job id
# (the background process's id) on stdout, which is all Snakemake reads.
set -euo pipefail
rule=$1 threads=$2 jobscript=$3
mkdir -p logs/submit
nohup bash "$jobscript" >"logs/submit/$(basename "$jobscript").out" 2>&1 </dev/null &
echo "$(date -u +%FT%TZ) job $! rule $rule threads $threads script $jobscript" >>logs/submit.log
echo "$!"

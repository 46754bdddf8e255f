#!/usr/bin/env bash
# Submit `advconf fit` for every config of a list as one SLURM job array (one array task per line).
#
#   slurm/sweep.sh [--SBATCH-OPTION=VALUE ...] LIST [OVERRIDES...]
#   slurm/sweep.sh [--SBATCH-OPTION=VALUE ...] LIST CONFIG [OVERRIDES...]
#
# LIST has one "CONFIG [OVERRIDES...]" per line, e.g. configs/resnet18_table3.txt, or one
# "LABEL OVERRIDES..." per line on top of CONFIG, e.g. configs/table3_sweep.txt (blank lines and #
# comments are skipped; paths are relative to the repository root). OVERRIDES after LIST (and
# CONFIG) apply to every task. sbatch options go before
# LIST in --name=value form, e.g. --nodes=2 --ntasks-per-node=4 --gpus-per-node=4 --array-limit=3
# (--array-limit=K: at most K tasks at a time). Prints the array job id.
set -euo pipefail

sbatch_options=()
limit=""
while (($#)) && [[ $1 == --* ]]; do
    case $1 in
        --array-limit=*) limit="%${1#*=}" ;;
        *=*) sbatch_options+=("$1") ;;
        *) echo "sweep.sh: sbatch options must be --name=value, got $1" >&2; exit 2 ;;
    esac
    shift
done
if (($# == 0)); then
    echo "usage: $0 [--SBATCH-OPTION=VALUE ...] LIST [CONFIG] [OVERRIDES...]" >&2
    exit 2
fi
list=$(realpath "$1")
shift
count=$(grep -cv -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$list" || true)
if ((count == 0)); then
    echo "sweep.sh: $list lists no configs" >&2
    exit 2
fi
cd "$(dirname "$0")/.."  # the jobs' working directory: config paths in LIST are relative to it
sbatch --parsable --array="0-$((count - 1))$limit" "${sbatch_options[@]}" slurm/fit.sbatch "$list" "$@"

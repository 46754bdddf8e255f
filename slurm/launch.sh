# Sourced by fit.sbatch and test.sbatch: `advconf_srun SUBCOMMAND CONFIG [OVERRIDES...]` starts one
# advconf process per task with srun, with trainer.num_nodes/devices taken from the allocation.
#
# In a job array the first argument may be a list file instead: task i runs its i-th line (blank
# lines and lines starting with # do not count), either "CONFIG [OVERRIDES...]", or "LABEL OVERRIDES..."
# (the configs/*_sweep.txt form) on top of the CONFIG given after the list. Arguments after the
# list apply to every task. RUN_DIR=DIR sets trainer.default_root_dir.

advconf_srun() {
    local subcommand=$1
    shift
    if (($# == 0)); then
        echo "usage: sbatch [SBATCH OPTIONS] slurm/$subcommand.sbatch CONFIG [OVERRIDES...]" >&2
        exit 2
    fi
    local args=("$@")
    if [[ -n ${SLURM_ARRAY_TASK_ID:-} && ${args[0]} != *.yaml && ${args[0]} != *.yml ]]; then
        local line words
        line=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "${args[0]}" | sed -n "$((SLURM_ARRAY_TASK_ID + 1))p")
        if [[ -z $line ]]; then
            echo "${args[0]} has no line for array task $SLURM_ARRAY_TASK_ID" >&2
            exit 2
        fi
        read -ra words <<< "$line"
        if [[ ${words[0]} == *.yaml || ${words[0]} == *.yml ]]; then
            args=("${words[@]}" "${args[@]:1}")
        elif ((${#args[@]} > 1)); then
            args=("${args[@]:1}" "${words[@]:1}")
        else
            echo "${args[0]}: line \"$line\" needs a CONFIG after the list file" >&2
            exit 2
        fi
    fi
    # Taken from the allocation so they cannot disagree with it (Lightning checks they match).
    local placement=(--trainer.num_nodes "$SLURM_JOB_NUM_NODES" --trainer.devices "${SLURM_NTASKS_PER_NODE:-1}")
    if [[ -n ${RUN_DIR:-} ]]; then
        placement+=(--trainer.default_root_dir "$RUN_DIR")
    fi
    echo "advconf $subcommand: job ${SLURM_JOB_ID} restart ${SLURM_RESTART_COUNT:-0} on ${SLURM_JOB_NODELIST}: ${args[*]}"
    srun --kill-on-bad-exit=1 advconf "$subcommand" --config "${args[0]}" "${placement[@]}" "${args[@]:1}"
}

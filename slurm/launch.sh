# Sourced by fit.sbatch and test.sbatch: `advconf_srun SUBCOMMAND CONFIG [OVERRIDES...]` starts one
# advconf process per task with srun, with trainer.num_nodes/devices taken from the allocation.
#
# In a job array the first argument may be a list file instead: task i runs its i-th line (blank
# lines and lines starting with # do not count), either "CONFIG [OVERRIDES...]", or "LABEL OVERRIDES..."
# (the configs/*_sweep.txt form) on top of the CONFIG given after the list. Arguments after the
# list apply to every task.
#
# RUN_DIR=DIR sets trainer.default_root_dir, after every other argument so that it wins over the
# config and the overrides: the whole run (checkpoints, config, W&B, results) goes under DIR. In a
# job array each task gets DIR/LABEL, LABEL being the line's label or else its last config's name.

advconf_srun() {
    local subcommand=$1
    shift
    if (($# == 0)); then
        echo "usage: sbatch [SBATCH OPTIONS] slurm/$subcommand.sbatch CONFIG [OVERRIDES...]" >&2
        exit 2
    fi
    local args=("$@") run_dir=${RUN_DIR:-}
    if [[ -n ${SLURM_ARRAY_TASK_ID:-} && ${args[0]} != *.yaml && ${args[0]} != *.yml ]]; then
        local line words word label=""
        line=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "${args[0]}" | sed -n "$((SLURM_ARRAY_TASK_ID + 1))p")
        if [[ -z $line ]]; then
            echo "${args[0]} has no line for array task $SLURM_ARRAY_TASK_ID" >&2
            exit 2
        fi
        read -ra words <<< "$line"
        if [[ ${words[0]} == *.yaml || ${words[0]} == *.yml ]]; then
            for word in "${words[@]}"; do
                if [[ $word == *.yaml || $word == *.yml ]]; then label=$(basename "${word%.*}"); fi
            done
            args=("${words[@]}" "${args[@]:1}")
        elif ((${#args[@]} > 1)); then
            label=${words[0]}
            args=("${args[@]:1}" "${words[@]:1}")
        else
            echo "${args[0]}: line \"$line\" needs a CONFIG after the list file" >&2
            exit 2
        fi
        if [[ -n $run_dir ]]; then run_dir=$run_dir/$label; fi
    fi
    # Taken from the allocation so they cannot disagree with it (Lightning checks they match).
    local placement=(--trainer.num_nodes "$SLURM_JOB_NUM_NODES" --trainer.devices "${SLURM_NTASKS_PER_NODE:-1}")
    local last=()
    if [[ -n $run_dir ]]; then last=(--trainer.default_root_dir "$run_dir"); fi
    echo "advconf $subcommand: job ${SLURM_JOB_ID} restart ${SLURM_RESTART_COUNT:-0} on ${SLURM_JOB_NODELIST}: ${args[*]} ${last[*]}"
    srun --kill-on-bad-exit=1 advconf "$subcommand" --config "${args[0]}" "${placement[@]}" "${args[@]:1}" "${last[@]}"
}

#!/bin/bash

# Parameters
#SBATCH --error=<FOLDER>/%j_0_log.err
#SBATCH --job-name=runway-train-bert_V3
#SBATCH --nodes=1
#SBATCH --open-mode=append
#SBATCH --output=<FOLDER>/%j_0_log.out
#SBATCH --requeue
#SBATCH --signal=USR2@90
#SBATCH --time=60
#SBATCH --wckey=submitit

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output <FOLDER>/%j_%t_log.out --error <FOLDER>/%j_%t_log.err <PYTHON> -u -m submitit.core._submit <FOLDER>

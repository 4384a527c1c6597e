#!/bin/bash

# Parameters
#SBATCH --account=nlp
#SBATCH --constraint=a100
#SBATCH --cpus-per-task=8
#SBATCH --error=<FOLDER>/%j_0_log.err
#SBATCH --exclude='node[01-02]'
#SBATCH --gpus-per-node=4
#SBATCH --job-name=runway-train-bert_V3
#SBATCH --mail-type=END
#SBATCH --mem=64GB
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --open-mode=append
#SBATCH --output=<FOLDER>/%j_0_log.out
#SBATCH --partition=gpu
#SBATCH --qos=high
#SBATCH --requeue
#SBATCH --signal=USR2@90
#SBATCH --time=720
#SBATCH --wckey=submitit

# setup
module load cuda/12.1
source .venv/bin/activate

# command
export SUBMITIT_EXECUTOR=slurm
srun --unbuffered --output <FOLDER>/%j_%t_log.out --error <FOLDER>/%j_%t_log.err --kill-on-bad-exit=1 <PYTHON> -u -m submitit.core._submit <FOLDER>

#!/usr/bin/env bash
# The GPU figures in the README, as one script for a lent GPU machine that reaches no registry.
#   bash bench/gpu_check.sh install WHEEL_DIR     # join and install the bundle of bench/gpu_wheels.py (the lock's
#                                                 # versions; a wheel at any other version is refused)
#   bash bench/gpu_check.sh bench OUT_DIR         # MuJoCo Warp physics + env, and PPO throughput
#   bash bench/gpu_check.sh train OUT_DIR [SECONDS] [NUM_ENVS] ["name key=value ..." ...]
#       BlindGrasping on the GPU, one run per variant (all at once), logs and checkpoints to OUT_DIR
#   bash bench/gpu_check.sh curve OUT_DIR [MINUTES] [NUM_ENVS]
#       the README's 4-seed table: BlindGrasping seeds $SEEDS (42 43 44 45) side by side on the one GPU,
#       MINUTES (5) of training each, every checkpoint evaluated on 32 seeded episodes on the CPU as it
#       lands; OUT_DIR gets curve.txt (the log and both tables), summary.csv, curve.csv and curve.png.
#       Fits one call of under 10 minutes: install ~30 s, Warp kernels ~140 s cold (compiled once here,
#       before the runs, which then load them from Warp's cache), 4 x MINUTES side by side, final evals.
#       A lent machine takes 64 MiB per call, the bundle is three ~60 MB parts: make them here with
#       `python bench/gpu_wheels.py .whl` (.whl is git-ignored; the lock's versions), carry one part per call and copy
#       it to $HOME/wheels there (the machine keeps its files while it stays warm between calls); the
#       call that brings the last part runs
#         bash bench/gpu_check.sh install $HOME/wheels && bash bench/gpu_check.sh curve $OUT 5
# Run from the repository root; the machine's own python3 and torch are used (never the project's torch pin):
# the lock governs every package but torch and the image's own (bench/gpu_wheels.py).
set -uo pipefail
cmd=${1:?usage: gpu_check.sh install|bench|train|curve DIR ...}
dir=${2:?usage: gpu_check.sh install|bench|train|curve DIR ...}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 MUJOCO_GL=disable   # nothing here renders
PY=${PY:-python3}; DEVICE=${DEVICE:-cuda:0}

case "$cmd" in
install)
  cat "$dir"/bundle.part-* | tar -C "$dir" -xf - || exit 1
  $PY -m pip install -q --no-index --no-deps -c constraints.txt "$dir"/wheels/*.whl || exit 1
  $PY -c "import torch, mujoco, mujoco_warp, warp, rl_games, hydra, flask; print('torch', torch.__version__, \
'| mujoco', mujoco.__version__, '| warp', warp.__version__, '| cuda', torch.cuda.get_device_name(0))"
  ;;
bench)
  mkdir -p "$dir"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$dir/gpu.txt"
  # physics alone vs the full env (task math in torch), BlindGrasping at 1k..64k worlds, Reach at 16k
  timeout "${BENCH_S:-300}" $PY bench/sim_throughput.py --backend warp --device "$DEVICE" --tasks BlindGrasping \
    --seconds 1 2>&1 | grep -v "^Module " | tee "$dir/sim_throughput.txt"
  # PPO end to end (rl_games on the GPU, rollouts from the warp env); also printed by every training run
  [ -n "${PPO_BENCH:-}" ] && timeout 240 $PY bench/train_throughput.py --backend warp --device "$DEVICE" \
    --tasks BlindGrasping --num-envs 4096 16384 --epochs 8 2>&1 | grep -v "^Module " | tee "$dir/train_throughput.txt"
  ;;
train)
  # one training per VARIANT ("name key=value ..."), all at once on the one GPU, each for SECONDS
  seconds=${3:-300}; envs=${4:-8192}; shift 4 2>/dev/null || shift $#
  [ $# -gt 0 ] || set -- "default"
  mkdir -p "$dir"
  for variant in "$@"; do
    read -r name overrides <<<"$variant"
    runs=${RUNS:-/root/gpu-runs}/$name; rm -rf "$runs"
    # SIGTERM after `seconds`: the trainer saves a final checkpoint and exits 0
    # shellcheck disable=SC2086
    (timeout -s TERM "$seconds" $PY train.py config=train_headless task=BlindGrasping device="$DEVICE" backend=warp \
      numEnvs="$envs" maxIterations=1000000 train.saveFrequency=25 train.printInterval=10 runsDir="$runs" \
      $overrides 2>&1 | grep -v "^Module " > "$dir/train_$name.txt") &
  done
  wait
  for variant in "$@"; do
    read -r name _ <<<"$variant"
    runs=${RUNS:-/root/gpu-runs}/$name; exp=$(readlink -f "$runs/latest_train")
    tail -n 4 "$dir/train_$name.txt"
    # the run (checkpoints, config, log, TensorBoard) in parts that each fit what a call brings back
    tar -C "$runs" -cf - "$(basename "$exp")" | split -b 15m - "$dir/run_$name.tar.part-"
  done
  ls -la "$dir"
  ;;
curve)
  minutes=${3:-5}; envs=${4:-4096}; seeds=${SEEDS:-42 43 44 45}
  work=${RUNS:-/root/gpu-runs}/curve; rm -rf "$work"; mkdir -p "$dir"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$dir/curve.txt"
  t0=$(date +%s)
  # compile Warp's kernels once (a few worlds suffice: the kernels do not depend on their number), so the
  # runs side by side load them from the cache instead of each compiling them at once
  $PY -c "
import torch; from omegaconf import OmegaConf; from services.sim import make_env
env = make_env(OmegaConf.load('configs/task/BlindGrasping.yaml'), 64, device='$DEVICE', backend='warp')
env.step(torch.zeros(64, env.num_actions, device='$DEVICE')); torch.cuda.synchronize()" 2>&1 | grep -v "^Module "
  echo "Warp kernels ready after $(( $(date +%s) - t0 )) s" | tee -a "$dir/curve.txt"
  # shellcheck disable=SC2086
  timeout "$($PY -c "print(int($minutes * 60 + 300))")" $PY bench/learning_curve.py BlindGrasping --backend warp --device "$DEVICE" \
    --num-envs "$envs" --episodes 32 --save-every 10 --minutes "$minutes" --seeds $seeds --parallel --out "$work" \
    2>&1 | grep -v "^Module " | tee -a "$dir/curve.txt"
  cp "$work"/summary.csv "$work"/curve.csv "$work"/curve.png "$dir"/ 2>/dev/null
  ls -la "$dir"
  ;;
*) echo "gpu_check.sh: unknown command $cmd" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The GPU figures in the README, as one script for a lent GPU machine that reaches no registry.
#   bash bench/gpu_check.sh install WHEEL_DIR     # join and install the bundle of bench/gpu_wheels.py (the lock's
#                                                 # versions; a wheel at any other version is refused)
#   bash bench/gpu_check.sh bench OUT_DIR         # MuJoCo Warp physics + env (eager vs fused), PPO throughput
#   bash bench/gpu_check.sh train OUT_DIR [SECONDS] [NUM_ENVS] ["name key=value ..." ...]
#       BlindGrasping on the GPU, one run per variant (all at once), logs and checkpoints to OUT_DIR
#   bash bench/gpu_check.sh curve OUT_DIR [MINUTES] [NUM_ENVS]
#       the README's 4-seed table: BlindGrasping seeds $SEEDS (42 43 44 45) side by side on the one GPU,
#       MINUTES (5) of training each, every checkpoint evaluated on 32 seeded episodes on the CPU as it
#       lands; OUT_DIR gets curve.txt (the log and both tables), summary.csv, curve.csv and curve.png.
#       Fits one call of under 10 minutes: install ~30 s, Warp kernels ~140 s cold and the fused task math
#       (env.compile, on CUDA; not yet timed there) compiled once here, before the runs, which then load
#       both from their caches; 4 x MINUTES side by side, final evals.
#       A lent machine takes 64 MiB per call, the bundle is three ~60 MB parts: make them here with
#       `python bench/gpu_wheels.py .whl` (.whl is git-ignored; the lock's versions), carry one part per call and copy
#       it to $HOME/wheels there (the machine keeps its files while it stays warm between calls); the
#       call that brings the last part runs
#         bash bench/gpu_check.sh install $HOME/wheels && bash bench/gpu_check.sh curve $OUT 5
#   bash bench/gpu_check.sh strip OUT_DIR [MINUTES]
#       what the user sees: `make up TASK=BlindGrasping` in the local runtime (trainer on the GPU, 4096 envs;
#       one tester, sync, streamer) for MINUTES (5), watched by bench/stream_strip.py: a frame of each tester
#       every $EVERY (30) s and the testers' status, then the stack stopped. OUT_DIR gets strip.txt (the
#       nvidia-smi line, the run's lines, the table), strip.jpg, status.jsonl, frames.tar (the frames,
#       status.jsonl, strip.json: `python bench/stream_strip.py --compose-only DIR` on its contents redraws
#       the strip) and stack_tail.txt (the stack's last log lines). Checks first that rsync (the sync
#       service) is here and that MuJoCo renders offscreen (EGL); where one is not, unpacks the .deb files
#       of .gl/ ($DEBS; `debs` makes them) into / and checks again, and stops at once with what to carry if
#       it still fails. Fits one call of under 10 minutes with `install` first: ~30 s, Warp kernels ~140 s
#       cold, stack start, MINUTES, stop. The call that brings the last wheel part carries .gl too and runs
#         bash bench/gpu_check.sh install $HOME/wheels && bash bench/gpu_check.sh strip $OUT 5
#       On a CPU machine, a dry run of everything but the GPU: GPU=0 TASK=Reach PY=.venv/bin/python
#       STREAM_PORT=58181 SYNC_PORT=58191 bash bench/gpu_check.sh strip /tmp/strip 1
#   bash bench/gpu_check.sh debs .gl
#       HERE, not on the GPU machine (it needs apt): rsync and the GL loaders (GLVND's libEGL, libOpenGL) as
#       .deb files for `strip` on a machine whose image lacks them (~0.8 MB; .gl/ is git-ignored)
# Run from the repository root; the machine's own python3 and torch are used (never the project's torch pin):
# the lock governs every package but torch and the image's own (bench/gpu_wheels.py).
set -uo pipefail
cmd=${1:?usage: gpu_check.sh install|bench|train|curve|strip|debs DIR ...}
dir=${2:?usage: gpu_check.sh install|bench|train|curve|strip|debs DIR ...}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 MUJOCO_GL=disable   # nothing here renders
PY=${PY:-python3}; DEVICE=${DEVICE:-cuda:0}; DEBS=${DEBS:-.gl}

# Compile Warp's kernels for BlindGrasping once (they do not depend on the world count), and the fused
# task math (env.compile, on for CUDA: Inductor compiles per world count, so at the runs' own, $2), so
# the runs after it (side by side, or the stack's trainer) load both from their caches.
warp_kernels() {
  "$PY" -c "
import torch; from omegaconf import OmegaConf; from services.sim import make_env
env = make_env(OmegaConf.load('configs/task/BlindGrasping.yaml'), $2, device='$DEVICE', backend='warp')
env.step(torch.zeros($2, env.num_actions, device='$DEVICE')); env.states(); torch.cuda.synchronize()
print('task math', 'fused (torch.compile)' if env.fusion.enabled else 'eager')" 2>&1 | grep -v "^Module "
  echo "Warp kernels and the task math ready after $(( $(date +%s) - $1 )) s"
}

# What the stack needs beyond Python on this machine: rsync (sync copies the checkpoints to the testers'
# mirror) and offscreen rendering (testers draw world 0). Where either is missing, the .deb files in $DEBS
# (.gl; `debs` makes them) are unpacked into / (a lent machine is bare and given back) and both are checked
# again; one line on what is still missing. Not in a pipeline: what it exports must reach the stack.
RENDER_CHECK="
import mujoco
m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size=\".1\"/></worldbody></mujoco>')
r = mujoco.Renderer(m, 64, 64); r.update_scene(mujoco.MjData(m)); r.render()"
can_render() {
  "$PY" -c "$RENDER_CHECK" 2>/dev/null && return 0
  # GLVND finds no EGL vendor by itself on some images: name the driver's own
  local nvidia_egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  [ -f "$nvidia_egl" ] || return 1
  export __EGL_VENDOR_LIBRARY_FILENAMES=$nvidia_egl
  "$PY" -c "$RENDER_CHECK" 2>/dev/null
}
strip_preflight() {   # $1: the log
  if ! { command -v rsync >/dev/null && can_render; } && compgen -G "$DEBS/*.deb" >/dev/null; then
    echo "preflight: unpacking $DEBS/*.deb into /" | tee -a "$1"
    for f in "$DEBS"/*.deb; do dpkg -x "$f" /; done; ldconfig
  fi
  if ! command -v rsync >/dev/null; then
    echo "gpu_check.sh strip: rsync is not installed here: carry its .deb in .gl/ (gpu_check.sh debs .gl, on your" \
      "machine)" | tee -a "$1"
    return 1
  fi
  if ! can_render; then
    "$PY" -c "$RENDER_CHECK" 2>&1 | tail -n 1 |
      sed "s/^/gpu_check.sh strip: offscreen rendering (MUJOCO_GL=$MUJOCO_GL) fails: /" | tee -a "$1"
    echo "gpu_check.sh strip: carry the GL loaders' .debs in .gl/ (gpu_check.sh debs .gl, on your" \
      "machine)" | tee -a "$1"
    return 1
  fi
  echo "preflight: rsync $(rsync --version | head -n 1 | awk '{print $3}'), offscreen rendering works" \
    "(MUJOCO_GL=$MUJOCO_GL)" | tee -a "$1"
}

case "$cmd" in
install)
  cat "$dir"/bundle.part-* | tar -C "$dir" -xf - || exit 1
  "$PY" -m pip install -q --no-index --no-deps -c constraints.txt "$dir"/wheels/*.whl || exit 1
  "$PY" -c "import torch, mujoco, mujoco_warp, warp, rl_games, hydra, flask; print('torch', torch.__version__, \
'| mujoco', mujoco.__version__, '| warp', warp.__version__, '| cuda', torch.cuda.get_device_name(0))"
  ;;
bench)
  mkdir -p "$dir"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$dir/gpu.txt"
  # physics alone vs the full env (task math in torch), BlindGrasping at 1k..64k worlds; with it, the
  # full env eager vs its task math fused (env.compile), side by side
  timeout "${BENCH_S:-300}" "$PY" bench/sim_throughput.py --backend warp --device "$DEVICE" --tasks BlindGrasping \
    --seconds 1 --compile 2>&1 | grep -v "^Module " | tee "$dir/sim_throughput.txt"
  # PPO end to end (rl_games on the GPU, rollouts from the warp env); also printed by every training run
  [ -n "${PPO_BENCH:-}" ] && timeout 240 "$PY" bench/train_throughput.py --backend warp --device "$DEVICE" \
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
    (timeout -s TERM "$seconds" "$PY" train.py config=train_headless task=BlindGrasping device="$DEVICE" backend=warp \
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
  warp_kernels "$t0" "$envs" | tee -a "$dir/curve.txt"
  # shellcheck disable=SC2086
  timeout "$("$PY" -c "print(int($minutes * 60 + 300))")" "$PY" bench/learning_curve.py BlindGrasping --backend warp --device "$DEVICE" \
    --num-envs "$envs" --episodes 32 --save-every 10 --minutes "$minutes" --seeds $seeds --parallel --out "$work" \
    2>&1 | grep -v "^Module " | tee -a "$dir/curve.txt"
  cp "$work"/summary.csv "$work"/curve.csv "$work"/curve.png "$dir"/ 2>/dev/null
  ls -la "$dir"
  ;;
strip)
  minutes=${3:-5}; port=${STREAM_PORT:-58080}; task=${TASK:-BlindGrasping}
  WARP_NOISE='^([a-z0-9-]+ +\| )?Module '   # Warp's kernel-cache lines, bare or behind the stack's prefix
  home=${RUNS:-/root/gpu-runs}/strip; rm -rf "$home"; mkdir -p "$home" "$dir"
  log=$dir/strip.txt
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee "$log"
  export MUJOCO_GL=${STRIP_GL:-egl}   # the testers render (the other modes render nothing)
  strip_preflight "$log" || exit 1
  t0=$(date +%s)
  [ "${GPU:-1}" = 0 ] || MUJOCO_GL=disable warp_kernels "$t0" "${NUM_ENVS:-4096}" | tee -a "$log"
  # the stack as `make up TASK=BlindGrasping` runs it (GPU=1: it stops with one line where it cannot train
  # on the GPU), its runs and state in a folder of their own; it keeps the foreground until SIGTERM
  t1=$(date +%s)
  # shellcheck disable=SC2086
  POLICYCAST_HOME=$home "$PY" -m services.stack --port "$port" up --runtime local --task "$task" \
    --gpu "${GPU:-1}" --testers "${TESTERS:-1}" ${NUM_ENVS:+--num-envs $NUM_ENVS} > "$home/stack.txt" 2>&1 &
  stack=$!
  ready=""; rc=1
  for _ in $(seq 240); do   # the dashboard answers within seconds; bounded all the same
    if "$PY" -c "import sys; from services.stack.dashboard import streamer_up; sys.exit(not streamer_up($port))"; then
      ready=1; break
    fi
    kill -0 "$stack" 2>/dev/null || break
    sleep 1
  done
  grep -Ev "$WARP_NOISE" "$home/stack.txt" | head -n 3 | tee -a "$log"
  if [ -n "$ready" ]; then
    echo "dashboard up $(( $(date +%s) - t1 )) s after the stack started" | tee -a "$log"
    # SIGTERM past its time: stream_strip composes what it captured
    timeout "$("$PY" -c "print(int($minutes * 60 + 240))")" "$PY" bench/stream_strip.py \
      --url "http://127.0.0.1:$port" --minutes "$minutes" --every "${EVERY:-30}" --wait 240 --out "$home/frames" \
      2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
  else
    echo "gpu_check.sh strip: the dashboard did not answer on 127.0.0.1:$port (stack_tail.txt says why)" | tee -a "$log"
  fi
  # stop the stack as Ctrl+C does: the supervisor stops every service, the trainer saves a final checkpoint
  kill -TERM "$stack" 2>/dev/null
  for _ in $(seq 60); do kill -0 "$stack" 2>/dev/null || break; sleep 1; done
  grep -Ev "$WARP_NOISE" "$home/stack.txt" | tail -n 300 > "$dir/stack_tail.txt"
  cp "$home/frames/strip.jpg" "$home/frames/status.jsonl" "$dir"/ 2>/dev/null
  [ -d "$home/frames" ] && tar -C "$home" -cf "$dir/frames.tar" frames
  echo "stack stopped; $(( $(date +%s) - t0 )) s in all" | tee -a "$log"
  ls -la "$dir"
  exit "$rc"
  ;;
debs)
  mkdir -p "$dir" &&
    (cd "$dir" && apt-get download rsync libpopt0 libxxhash0 libglvnd0 libegl1 libopengl0 libgl1 libglx0) &&
    ls -la "$dir"
  ;;
*) echo "gpu_check.sh: unknown command $cmd" >&2; exit 2 ;;
esac

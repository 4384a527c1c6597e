#!/usr/bin/env bash
# The GPU paths of runway, checked in a few minutes on a machine with NVIDIA GPU(s) (docs/hpc.md, "GPU").
#
#   bash scripts/gpu-check.sh            # from the repository root, with .venv built (make install)
#
# 1. DDP on every GPU with bf16-mixed: runway-train digits, accelerator=gpu, devices=<all>, strategy=ddp
#    (one device: no strategy), precision=bf16-mixed; checks world size, status, checkpoint.
# 2. runway-infer on cuda: predictions + test accuracy of that version (the version trained on GPU).
# 3. runway serve --device cuda: /meta says cuda, POST /classify answers the label of a known test row.
# 4. runway bench --device cuda: its in-process table has the GPU memory columns filled.
#
# Prints one line per check and a summary with the card's name (`nvidia-smi`), the figures to copy into
# docs/hpc.md. Exit 0 when every check passed, 1 when one failed, 2 when there is no usable GPU here.
# Everything is written under a temporary project (RUNWAY_GPU_CHECK_DIR to choose it); nothing leaves
# this machine (W&B offline, Hugging Face offline).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${RUNWAY_BIN:-$ROOT/.venv/bin}"
PORT="${RUNWAY_GPU_CHECK_PORT:-9137}"
export WANDB_MODE=offline WANDB_SILENT=true HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

log() { printf '[gpu-check] %s\n' "$*"; }
fail_no_gpu() {
    printf '[gpu-check] NO GPU: %s\n' "$*" >&2
    printf '[gpu-check] this script checks the CUDA paths and needs an NVIDIA GPU; nothing was run.\n' >&2
    exit 2
}

# ---- 0. a GPU, and a torch that sees it -----------------------------------------------------------------
command -v nvidia-smi >/dev/null 2>&1 || fail_no_gpu "nvidia-smi is not installed (no NVIDIA driver on this machine)"
CARD="$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"
[[ -n "$CARD" ]] || fail_no_gpu "nvidia-smi lists no GPU"
[[ -x "$BIN/python" ]] || {
    echo "[gpu-check] no virtual environment at $BIN (run: make install)" >&2
    exit 2
}
NGPU="$("$BIN/python" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)' 2>/dev/null)"
[[ "${NGPU:-0}" -ge 1 ]] || fail_no_gpu "torch $("$BIN/python" -c 'import torch; print(torch.__version__)') sees no CUDA device (a CPU-only wheel? install a CUDA build of torch)"
BF16="$("$BIN/python" -c 'import torch; print(int(torch.cuda.is_bf16_supported()))')"
[[ "$BF16" == 1 ]] || fail_no_gpu "the GPU ($CARD) has no bf16 support (bf16-mixed needs Ampere or newer)"
WORK="${RUNWAY_GPU_CHECK_DIR:-$(mktemp -d /tmp/runway-gpu-check.XXXXXX)}"
mkdir -p "$WORK"
log "card: $CARD x $NGPU; torch $("$BIN/python" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')"
log "work folder: $WORK"

FAILED=0
declare -a SUMMARY=()
check() { # check NAME COMMAND...: run, time, record PASS/FAIL
    local name="$1"
    shift
    local t0=$SECONDS
    if "$@" >"$WORK/$name.log" 2>&1; then
        SUMMARY+=("PASS $name ($((SECONDS - t0)) s)")
        log "PASS $name ($((SECONDS - t0)) s)"
    else
        SUMMARY+=("FAIL $name ($((SECONDS - t0)) s, log: $WORK/$name.log)")
        log "FAIL $name; last lines of $WORK/$name.log:"
        tail -25 "$WORK/$name.log" | sed 's/^/    /'
        FAILED=1
    fi
}

PROJ="$WORK/proj"
"$BIN/runway" init "$PROJ" >"$WORK/init.log" 2>&1 || {
    cat "$WORK/init.log"
    exit 1
}
cd "$PROJ" || exit 1

# ---- 1. DDP on every GPU, bf16-mixed ----------------------------------------------------------------------
STRATEGY=()
[[ "$NGPU" -gt 1 ]] && STRATEGY=("train.trainer_paras.strategy=ddp")
train_ddp() {
    "$BIN/runway-train" digits --launcher local --opts train.trainer_paras.accelerator=gpu \
        "train.trainer_paras.devices=$NGPU" "${STRATEGY[@]}" train.trainer_paras.precision=bf16-mixed \
        train.trainer_paras.max_epochs=3 train.trainer_paras.enable_progress_bar=false train.early_stopping=null \
        'meta.logger_enable=["csv"]' || return 1
    "$BIN/python" - "$NGPU" <<'EOF'
import json, sys
from pathlib import Path
(v,) = sorted(Path("experiments").glob("digits_V*"))
m = json.loads((v / "train" / "manifest.json").read_text())
cfg = json.loads((v / "train" / "config.json").read_text())
assert m["status"] == "completed", m.get("error")
assert m["world_size"] == int(sys.argv[1]), m["world_size"]
assert cfg["train"]["trainer_paras"]["precision"] == "bf16-mixed"
assert (v / "train" / "checkpoints" / "last.ckpt").is_file()
print(f"trained {v.name}: world size {m['world_size']}, {m['train_seconds']} s, val_accuracy {m['final_metrics'].get('val_accuracy'):.4f}")
EOF
}
check ddp_bf16 train_ddp

# ---- 2. runway-infer on cuda ------------------------------------------------------------------------------
infer_cuda() {
    # The version was trained with accelerator=gpu: inference runs on one CUDA device.
    "$BIN/runway-infer" digits gpu || return 1
    "$BIN/python" - <<'EOF'
import json
from pathlib import Path
(folder,) = sorted(Path("experiments").glob("digits_V*/infer-gpu"))
metrics = json.loads((folder / "metrics.json").read_text())
manifest = json.loads((folder / "manifest.json").read_text())
print(f"infer on cuda: accuracy {metrics['accuracy']:.4f}; manifest device fields:",
      {k: v for k, v in manifest.items() if "device" in k or "accelerator" in k})
assert metrics["accuracy"] >= 0.9, metrics["accuracy"]
EOF
}
check infer_cuda infer_cuda

# ---- 3. runway serve on cuda answers correctly ------------------------------------------------------------
serve_cuda() {
    "$BIN/runway" serve digits --device cuda --port "$PORT" >"$WORK/serve.out" 2>&1 &
    local pid=$!
    local ok=1
    for _ in $(seq 1 120); do
        "$BIN/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/meta', timeout=2)" \
            >/dev/null 2>&1 && {
            ok=0
            break
        }
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if [[ $ok == 0 ]]; then
        "$BIN/python" - "$PORT" <<'EOF'
import json, sys, urllib.request
from sklearn.datasets import load_digits
port = sys.argv[1]
meta = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/meta"))
assert str(meta.get("device", "")).startswith("cuda"), meta.get("device")
digits = load_digits()
right = 0
for i in range(20):
    body = json.dumps({"pixels": [int(x) for x in digits.data[i]]}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/classify", data=body, headers={"Content-Type": "application/json"})
    out = json.load(urllib.request.urlopen(req))
    right += int(out["label"]) == int(digits.target[i])
print(f"serve on {meta['device']} ({meta.get('GPU')}): {right}/20 labels right")
assert right >= 18, right
EOF
        ok=$?
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [[ $ok == 0 ]] || tail -30 "$WORK/serve.out"
    return $ok
}
check serve_cuda serve_cuda

# ---- 4. runway bench fills its GPU memory column ----------------------------------------------------------
bench_cuda() {
    "$BIN/runway" bench digits --device cuda --concurrency 1,8 --requests 200 --warmup 20 -o "$WORK/bench.json" || return 1
    "$BIN/python" - "$WORK/bench.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
rows = report["in_process"]
assert rows and all(r.get("gpu_peak_allocated_mb") for r in rows), rows
for r in rows:
    print({k: r[k] for k in r if k.startswith(("batch", "gpu_", "latency", "rows"))})
EOF
}
check bench_cuda bench_cuda

# ---- summary ------------------------------------------------------------------------------------------------
echo
echo "== runway GPU check: $CARD x $NGPU ($(date -u +%Y-%m-%dT%H:%MZ))"
for line in "${SUMMARY[@]}"; do echo "   $line"; done
for name in ddp_bf16 infer_cuda serve_cuda bench_cuda; do
    grep -h -E "^(trained|infer on cuda|serve on|\{)" "$WORK/$name.log" 2>/dev/null | sed "s/^/   $name: /"
done
exit $FAILED

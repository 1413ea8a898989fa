#!/usr/bin/env bash
# On a GPU machine with no network: unpack the MNIST that `make gpu-data` gzipped into .gpu-data/,
# run the CUDA tests (the CUDA-graph step against the eager one, in fp32 and bf16), the benchmark of every model,
# and a search for a local copy of CIFAR-10. Everything lands in $OUT (default: gpu-out/).
#   MODELS=lenet,vgg19 bash scripts/gpu-check.sh
set -uo pipefail
out=${OUT:-gpu-out}
data=/tmp/lt-data
mkdir -p "$out" "$data/MNIST/raw"
for f in .gpu-data/*.gz; do gunzip -c "$f" > "$data/MNIST/raw/$(basename "$f" .gz)"; done
export PYTHONPATH=$PWD LT_TEST_DATA_DIR=$data PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/gpu.txt"
python3 -m pytest -q tests/test_step.py tests/test_precision.py tests/test_training.py 2>&1 | tee "$out/tests.log"
python3 -m lt_utils.bench --device cuda --data-dir "$data" --models "${MODELS:-lenet,conv2,conv4,conv6,vgg19}" \
    --out "$out/bench.json" > "$out/bench.log" 2>&1; echo "bench exit $?"
find / \( -name 'cifar-10*' -o -name 'data_batch_1' \) -not -path '/proc/*' 2>/dev/null | head -n 20 \
    | tee "$out/cifar.txt"

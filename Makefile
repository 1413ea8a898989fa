# Two commands do all the set-up on a fresh machine:
#   make book   build the book from the executed notebooks in book/ (into _build/html)
#   make test   ruff, the test suite (with Ray, the optional [cluster] extra, which it installs), a smoke
#               run of every notebook and a book build from it
PYTHON ?= python3
VENV ?= .venv
DATA_DIR ?= ../shared/data
NB ?= all
PARAMS ?=
BIN := $(VENV)/bin

.PHONY: book test figure rerender gpu-data gpu-cifar clean

# An existing $(VENV) and the packages in it are kept (venv does not clear it; pip keeps an installed
# torch that pyproject.toml accepts): the hosted CI puts PyTorch's CPU build there first.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,book]"
	touch $@

book: $(VENV)/.installed
	$(BIN)/python -m lt_utils.book build

# the optional Ray extra (executor="ray"): the test command installs and tests it; the book does not need it
$(VENV)/.cluster: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[cluster]"
	touch $@

test: $(VENV)/.installed $(VENV)/.cluster
	$(BIN)/ruff check .
	LT_TEST_DATA_DIR=$(DATA_DIR) $(BIN)/python -m pytest -q
	$(BIN)/python -m lt_utils.book smoke --data-dir $(DATA_DIR) --out .ci-out

# make figure NB=lenet_imp PARAMS="-p trials 2 -p device cuda"
figure: $(VENV)/.installed
	$(BIN)/python -m lt_utils.book run $(NB) $(PARAMS)

# re-render every committed page from the book's stored tables (no training, no data set)
rerender: $(VENV)/.installed
	$(BIN)/python -m lt_utils.book rerender all

# MNIST gzipped into .gpu-data/ (about 11 MB), to carry to a GPU machine with no network; there:
#   bash scripts/gpu-check.sh   (CUDA tests, benchmark, CIFAR-10 search)
gpu-data:
	mkdir -p .gpu-data
	for f in $(DATA_DIR)/MNIST/raw/*-ubyte; do gzip -c $$f > .gpu-data/$$(basename $$f).gz; done

# The JPEG copy of CIFAR-10 into .gpu-cifar/ (about 60 MB, so carried apart from .gpu-data/); there:
#   python -m lt_utils.book run conv_dropout -p device cuda -p dataset cifar10_jpeg -p data_dir .gpu-cifar ...
gpu-cifar:
	mkdir -p .gpu-cifar/CIFAR-10-JPEG
	cp $(DATA_DIR)/CIFAR-10-JPEG/cifar10-jpeg.zip $(DATA_DIR)/CIFAR-10-JPEG/SHA256SUMS .gpu-cifar/CIFAR-10-JPEG/

clean:
	rm -rf _build .ci-out .gpu-data .gpu-cifar

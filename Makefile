# `sam build` calls build-IntakeFunction (template.yaml: Metadata BuildMethod makefile).
# The function gets the reconciler and desired_state packages and the intake's own
# requirements only; the Pulumi program and its providers stay out of the Lambda.
# The intake's runtime (template.yaml: Runtime python3.12); `sam build --use-container` has it.
LAMBDA_PYTHON ?= python3.12

.PHONY: build-IntakeFunction
build-IntakeFunction:
	python3 -m pip install --quiet --target "$(ARTIFACTS_DIR)" --platform manylinux2014_aarch64 --only-binary=:all: --python-version 3.12 -r deploy/intake-requirements.txt
	cp -r reconciler desired_state "$(ARTIFACTS_DIR)/"
	cp reconciler-settings.yaml "$(ARTIFACTS_DIR)/" 2>/dev/null || cp reconciler-settings.example.yaml "$(ARTIFACTS_DIR)/reconciler-settings.yaml"
	find "$(ARTIFACTS_DIR)" -name __pycache__ -type d -prune -exec rm -rf {} +
	# Bytecode for the runtime's Python, so a cold start does not compile every module again (Lambda's
	# file system is read-only: nothing compiled there is kept). The build host's own caches were removed
	# above: they are for its Python, not the runtime's.
	@command -v $(LAMBDA_PYTHON) >/dev/null || { echo "build-IntakeFunction: $(LAMBDA_PYTHON) not found: run sam build --use-container, or set LAMBDA_PYTHON to the runtime's Python"; exit 1; }
	$(LAMBDA_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)"

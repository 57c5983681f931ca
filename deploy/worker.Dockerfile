# The reconciler worker: this repository, git, and the Pulumi CLI (which the Automation API drives).
# Build: docker build -f deploy/worker.Dockerfile -t ecs-gitops-worker .  (push it to ECR and pin
# the digest in template.yaml's WorkerImageUri).
FROM public.ecr.aws/docker/library/python:3.12-slim-bookworm

# The CLI at the same release as the pulumi SDK pinned in pyproject.toml.
ARG PULUMI_VERSION=3.272.0
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client gnupg curl ca-certificates \
 && curl -fsSL https://get.pulumi.com | sh -s -- --version "${PULUMI_VERSION}" --install-root /opt/pulumi \
 && apt-get purge -y curl && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
ENV PATH="/opt/pulumi/bin:${PATH}" PULUMI_SKIP_UPDATE_CHECK=true PYTHONUNBUFFERED=1

WORKDIR /app
COPY pyproject.toml README.md Pulumi.yaml ./
COPY desired_state ./desired_state
COPY program ./program
COPY policies ./policies
COPY reconciler ./reconciler
# git-remote-codecommit lets git fetch (and write back to) codecommit:: URLs with the task role.
RUN python -m venv /app/.venv && /app/.venv/bin/pip install --no-cache-dir . git-remote-codecommit==1.17
ENV PATH="/app/.venv/bin:${PATH}"
COPY reconciler-settings.example.yaml ./reconciler-settings.yaml

# Run as an unprivileged user; Pulumi's workspace and the git mirror live under /tmp.
RUN useradd --create-home --uid 10001 reconciler && chown -R reconciler /app
USER reconciler
CMD ["python", "-m", "reconciler.worker"]

# The reconciler worker: this repository, git, and the Pulumi CLI (which the Automation API drives).
# Build: docker build -f deploy/worker.Dockerfile -t ecs-gitops-worker .  (push it to ECR and pin
# the digest in template.yaml's WorkerImageUri).
#
# The Pulumi CLI and the AWS provider plugin are installed here, at the versions pinned in
# pyproject.toml ([tool.ecs-gitops.pins]), from release tarballs whose sha256 must match
# deploy/worker-checksums.sha256; a mismatch (or a checksum not filled in yet) fails the build.
# tests/deploy/test_worker_image.py checks the pins agree across pyproject.toml, this file, the
# checksums file and the installed pulumi-aws package.
FROM public.ecr.aws/docker/library/python:3.12-slim-bookworm

# The CLI at the same release as the pulumi SDK; the plugin at the pulumi-aws package's version.
ARG PULUMI_VERSION=3.272.0
ARG PULUMI_AWS_PLUGIN_VERSION=7.51.1
# Set by BuildKit (docker build --platform linux/amd64|linux/arm64); the task definition runs X86_64.
ARG TARGETARCH=amd64
COPY deploy/worker-checksums.sha256 /tmp/worker-checksums.sha256
# Only the checksum lines of the two tarballs are checked, and both must be there.
RUN set -eu; \
    apt-get update; \
    apt-get install -y --no-install-recommends git openssh-client gnupg curl ca-certificates; \
    case "${TARGETARCH}" in amd64) cli_arch=x64 ;; arm64) cli_arch=arm64 ;; *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; esac; \
    cli="pulumi-v${PULUMI_VERSION}-linux-${cli_arch}.tar.gz"; \
    plugin="pulumi-resource-aws-v${PULUMI_AWS_PLUGIN_VERSION}-linux-${TARGETARCH}.tar.gz"; \
    cd /tmp; \
    curl -fsSLo "${cli}" "https://github.com/pulumi/pulumi/releases/download/v${PULUMI_VERSION}/${cli}"; \
    curl -fsSLo "${plugin}" "https://github.com/pulumi/pulumi-aws/releases/download/v${PULUMI_AWS_PLUGIN_VERSION}/${plugin}"; \
    grep -E "  (${cli}|${plugin})\$" /tmp/worker-checksums.sha256 > /tmp/expected.sha256; \
    test "$(wc -l < /tmp/expected.sha256)" -eq 2 || { echo "deploy/worker-checksums.sha256 lacks ${cli} or ${plugin}" >&2; exit 1; }; \
    sha256sum --strict -c /tmp/expected.sha256; \
    mkdir -p /opt/pulumi; \
    tar -xzf "${cli}" -C /opt/pulumi --strip-components=1; \
    /opt/pulumi/pulumi version | grep -Fx "v${PULUMI_VERSION}"; \
    PULUMI_HOME=/opt/pulumi-home /opt/pulumi/pulumi plugin install resource aws "${PULUMI_AWS_PLUGIN_VERSION}" --file "/tmp/${plugin}"; \
    rm -f /tmp/*.tar.gz /tmp/*.sha256; \
    apt-get purge -y curl; apt-get autoremove -y; rm -rf /var/lib/apt/lists/*
# PULUMI_HOME holds the baked plugin; the CLI never checks for updates and never fetches a plugin
# (PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION): a plugin missing here fails the converge instead.
ENV PATH="/opt/pulumi:${PATH}" PULUMI_HOME=/opt/pulumi-home PULUMI_SKIP_UPDATE_CHECK=true \
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PYTHONUNBUFFERED=1
# The build fails unless exactly the pinned plugin is installed.
RUN pulumi plugin ls | tee /dev/stderr | grep -E "^aws +resource +${PULUMI_AWS_PLUGIN_VERSION} "

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

# Run as an unprivileged user; Pulumi's workspace and the git mirror live under /tmp. The CLI writes
# its credentials and workspace files under PULUMI_HOME, so the user owns it (plugins included).
RUN useradd --create-home --uid 10001 reconciler && chown -R reconciler /app /opt/pulumi-home
USER reconciler
CMD ["python", "-m", "reconciler.worker"]

# syntax=docker/dockerfile:1
#
# elt-console in a container. Build:
#   docker buildx build --target runtime -t elt-console .
#
# Run it on the GPU server from the deployment folder (the one holding docker-compose.gpu.yml,
# .env and .env.production):
#
#   docker run --rm -it \
#     --network host \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" \
#     --gpus all \
#     -v "$PWD:$PWD" -w "$PWD" \
#     -v "$HOME/.docker/config.json:/home/elt/.docker/config.json:ro" \
#     -e GH_TOKEN \
#     ghcr.io/arthurlee116/elt-console:latest            # add a subcommand: status, deploy ...
#
#   -it              the TUI needs a terminal; leave it out for headless commands (`status --json`).
#   --network host   the health URLs (http://localhost:3000/...) are the host's.
#   docker.sock      the console talks to the engine, and runs `docker compose`, through it;
#                    --group-add gives the non-root user (UID 1001) the socket's group, whatever
#                    its GID is on this host (or build with --build-arg DOCKER_GID=<gid>).
#   --gpus all       the NVIDIA Container Toolkit injects libnvidia-ml (NVIDIA_DRIVER_CAPABILITIES
#                    is `utility` below) so the GPU panel works. Without the toolkit, mount the
#                    library and the devices instead:
#                      -v /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1:/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1:ro
#                      --device /dev/nvidiactl --device /dev/nvidia0
#                    Add --pid host to map GPU processes (host PIDs) to containers.
#   $PWD:$PWD        the deployment folder at the same path as on the host, so any relative bind
#                    mount in a compose file means the same folder to the engine; UID 1001 must be
#                    able to write there (`.env` pin, `.elt-console/` state).
#   config.json      registry credentials for private GHCR packages (`docker login ghcr.io`).

ARG RUST_IMAGE=rust:1-bookworm
# Source of the docker CLI and the compose v2 plugin (static binaries), see the runtime stage.
ARG DOCKER_CLI_IMAGE=docker:27-cli

# ------------------------------------------------------------------------------------ builder
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# Dependencies first, against a dummy crate, so they are rebuilt only when Cargo.toml or
# Cargo.lock change. The registry and the target dir are cache mounts: kept between builds on
# one builder (note: a fresh CI runner starts with empty cache mounts).
COPY Cargo.toml Cargo.lock ./
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git/db,sharing=locked \
    --mount=type=cache,target=/src/target,id=elt-console-target,sharing=locked \
    set -eux; \
    mkdir -p src; \
    echo 'fn main() {}' > src/main.rs; \
    : > src/lib.rs; \
    cargo build --release --locked; \
    rm -rf src

COPY src ./src
COPY assets ./assets
# touch: COPY keeps the sources' old mtimes, which cargo could take as older than the dummy
# build's outputs. The binary is copied out of the cache mount, which the next stage cannot see.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git/db,sharing=locked \
    --mount=type=cache,target=/src/target,id=elt-console-target,sharing=locked \
    set -eux; \
    touch src/main.rs src/lib.rs; \
    cargo build --release --locked --bin elt-console; \
    install -D -m 0755 target/release/elt-console /out/elt-console; \
    /out/elt-console --version

# ------------------------------------------------------------------------------------ docker CLI
FROM ${DOCKER_CLI_IMAGE} AS dockercli

# ------------------------------------------------------------------------------------ runtime
FROM debian:bookworm-slim AS runtime

ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
# Repository URL; the build-and-push workflow passes https://github.com/<owner>/<repo>.
ARG SOURCE=""
# GID of the docker socket's group on the target host (Debian/Ubuntu packages often use 999 or
# similar); --group-add at run time works for any host.
ARG DOCKER_GID=999
ARG APP_UID=1001
ARG APP_GID=1001

LABEL org.opencontainers.image.title="elt-console" \
      org.opencontainers.image.description="Terminal console to watch and deploy a Dockerised GPU web app (English Listening Trainer)" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"

# ca-certificates: HTTPS to GHCR and the GitHub API (rustls reads the system roots).
# tzdata: local times in the history and runs panels. Versions come with the pinned base.
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates tzdata; \
    rm -rf /var/lib/apt/lists/*

# Deploys run `docker compose` (or `docker-compose`). Debian bookworm has no CLI-only package:
# `docker.io` brings the whole engine (dockerd, containerd, runc), and `docker-compose` is the
# Python compose 1.29 (end of life, and it names containers differently from the compose v2 that
# the GPU server runs, so the two would fight over the same project). So the image takes the
# statically linked docker CLI and compose v2 plugin from Docker's official `docker:<v>-cli`
# image; `docker-compose` is the same plugin binary, for the standalone spelling.
COPY --from=dockercli /usr/local/bin/docker /usr/local/bin/docker
COPY --from=dockercli /usr/local/libexec/docker/cli-plugins/docker-compose /usr/local/libexec/docker/cli-plugins/docker-compose
RUN set -eux; \
    ln -s /usr/local/libexec/docker/cli-plugins/docker-compose /usr/local/bin/docker-compose; \
    docker --version; \
    docker compose version

# Non-root user 1001, in a group with the docker socket's GID.
RUN set -eux; \
    getent group "${DOCKER_GID}" >/dev/null || groupadd --system --gid "${DOCKER_GID}" docker; \
    groupadd --gid "${APP_GID}" elt; \
    useradd --uid "${APP_UID}" --gid "${APP_GID}" --groups "${DOCKER_GID}" \
        --create-home --home-dir /home/elt --shell /usr/sbin/nologin elt; \
    install -d -o "${APP_UID}" -g "${APP_GID}" -m 0700 /home/elt/.docker; \
    install -d -o "${APP_UID}" -g "${APP_GID}" -m 0755 /deploy

COPY --from=builder /out/elt-console /usr/local/bin/elt-console

ENV HOME=/home/elt \
    NVIDIA_DRIVER_CAPABILITIES=utility
WORKDIR /deploy
USER 1001
ENTRYPOINT ["elt-console"]

# Soporte in a container: one self-contained binary (the web pages are
# embedded) on a minimal, shell-less base, running as a non-root user with
# its data in a volume. The root filesystem can be read-only: everything
# Soporte writes goes to /data (SQLite, attachments) or to PostgreSQL; with
# attachments on an object store, uploads are staged in /tmp (mount a tmpfs).
#
#   podman build -t soporte .        # or docker build
#   docker run -p 8000:8000 -v soporte-data:/data \
#     -e SOPORTE_JWT_SECRET_FILE=/run/secrets/jwt soporte
#
# The base images are arguments so that a mirror (or a local copy) can stand
# in for the registries; docs/DEPLOY.md says what is checked and how.
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim
ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
# The stage the binary comes from: `build` compiles it here; a release
# pipeline (or the check in scripts/check-deploy) may name an image that
# holds /soporte and an empty /data already.
ARG BINARY_FROM=build

# 1. The web pages (customer page, agent console, widget).
FROM ${NODE_IMAGE} AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN npm run build:demo

# 2. The binary, stripped (`dist` profile), with the pages embedded.
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY --from=web /src/web/dist-demo web/dist-demo
# No .git in the context: the commit `soporte --version` names is given.
ARG SOPORTE_GIT_COMMIT=unknown
ENV SOPORTE_GIT_COMMIT=${SOPORTE_GIT_COMMIT}
RUN cargo build --locked --profile dist -p soporte-server --bin soporte \
    && cp target/dist/soporte /soporte \
    && mkdir /data

FROM ${BINARY_FROM} AS binary

# 3. What runs: glibc, CA certificates, the binary. No shell, no package
# manager; user 65532 (distroless' "nonroot").
FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=binary /soporte /usr/local/bin/soporte
# Owned by the user, so that a fresh named volume mounted here is writable.
COPY --from=binary --chown=65532:65532 /data /data
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
ENV SOPORTE_BIND=0.0.0.0:8000 \
    SOPORTE_DATABASE_URL=sqlite:///data/soporte.db \
    SOPORTE_STORAGE=/data/files
EXPOSE 8000
# The binary is its own probe (there is no curl in the image).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/soporte", "healthcheck", "--url", "http://127.0.0.1:8000/readyz"]
ENTRYPOINT ["/usr/local/bin/soporte"]
CMD ["serve"]

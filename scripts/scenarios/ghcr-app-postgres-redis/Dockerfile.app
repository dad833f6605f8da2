# Stub app of assets/examples/ghcr-app-postgres-redis, FROM scratch (busybox-static + a script).
FROM scratch
ARG VERSION=v0.0.0
ARG COMMIT=0000000000000000000000000000000000000000
ARG SCHEMA=1
ARG BEHAVIOUR=good
ARG CREATED=1970-01-01T00:00:00Z
COPY rootfs/ /
ENV STUB_VERSION=${VERSION} STUB_COMMIT=${COMMIT} STUB_SCHEMA=${SCHEMA} STUB_BEHAVIOUR=${BEHAVIOUR} PATH=/bin
LABEL org.opencontainers.image.revision=${COMMIT} \
      org.opencontainers.image.created=${CREATED} \
      org.opencontainers.image.source=https://github.com/acme/notes \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.title="notes (stub)"
EXPOSE 8000
HEALTHCHECK --interval=1s --timeout=2s --retries=3 --start-period=3s \
  CMD ["/bin/wget","-q","-O","/dev/null","http://127.0.0.1:8000/healthz"]
ENTRYPOINT ["/bin/notes-app"]

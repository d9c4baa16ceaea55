# Build a static binary, then ship it alone on a minimal base, as Prometheus exporters do.
# `make docker` passes the build information; .git is not in the context (.dockerignore).
# The build stage runs on the builder's platform and cross-compiles for the target.
# Base images are pinned by digest, the tag kept for the reader.
FROM --platform=$BUILDPLATFORM golang:1.26.5@sha256:3aff6657219a4d9c14e27fb1d8976c49c29fddb70ba835014f477e1c70636647 AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION
ARG REVISION
ARG BRANCH
ARG BUILD_USER
ARG BUILD_DATE
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH make build \
        VERSION="$VERSION" REVISION="$REVISION" BRANCH="$BRANCH" \
        BUILD_USER="$BUILD_USER" BUILD_DATE="$BUILD_DATE"

FROM gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639
ARG VERSION
ARG REVISION
ARG CREATED
LABEL org.opencontainers.image.title="assuresign_exporter" \
      org.opencontainers.image.description="Prometheus exporter for AssureSign document status" \
      org.opencontainers.image.source="https://github.com/assuresign-exporter/assuresign_exporter" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.created="$CREATED"
COPY --from=build /src/assuresign_exporter /bin/assuresign_exporter
COPY LICENSE NOTICE /
USER 65532:65532
EXPOSE 9865
ENTRYPOINT ["/bin/assuresign_exporter"]
CMD ["--watch.file=/etc/assuresign_exporter/watch.yml"]

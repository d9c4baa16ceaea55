# Build a static binary, then ship it alone on a minimal base, as Prometheus exporters do.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="assuresign_exporter" \
      org.opencontainers.image.description="Prometheus exporter for AssureSign document status"
COPY --from=build /src/assuresign_exporter /bin/assuresign_exporter
USER 65532:65532
EXPOSE 9865
ENTRYPOINT ["/bin/assuresign_exporter"]
CMD ["--watch.file=/etc/assuresign_exporter/watch.yml"]

# syntax=docker/dockerfile:1
#
# The estate image: the one static `estate` binary, every target in it
# (`estate collector`, `estate invoicing`, `estate credit`, `estate chaos`,
# ...), on a distroless base that holds CA certificates, tzdata and the
# nonroot user (65532), and no shell or package manager.
#
#   docker build --build-arg VERSION=$(git describe --tags) -t estate .
#   docker run --rm -p 8081:8081 estate invoicing --auth.issuer=https://...
#
# The services' image carries the services alone (invoicing and credit,
# their migrations): a binary a third of the size, that starts in a third
# of the memory (docs/benchmarks.md):
#
#   docker build --build-arg GO_TAGS=servicesonly -t estate-services .
#
# The Helm chart in helm/estate runs this image.

# The release Go (RELEASE_GO in scripts/lib.sh): the newest patch release,
# whose standard library govulncheck checks in make lint.
ARG GO_VERSION=1.27.3

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Pure Go (SQLite is modernc.org/sqlite): a static binary, cross-compiled
# on the build platform for the target one.
ENV CGO_ENABLED=0 \
    GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG GO_TAGS=""
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -tags "${GO_TAGS}" -ldflags="-s -w -X main.version=${VERSION}" -o /out/estate ./cmd/estate \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="estate" \
      org.opencontainers.image.description="The reliability layer of a microservice estate: collector, services, chaos controller and reports in one binary" \
      org.opencontainers.image.source="https://github.com/estatehq/estate" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/estate /usr/local/bin/estate
# The data folder every embedded store lives under, writable by the nonroot
# user; Kubernetes mounts a volume over it.
COPY --from=build --chown=65532:65532 /out/data /var/lib/estate
ENV ESTATE_DATA_DIR=/var/lib/estate \
    ESTATE_LOG_FORMAT=json
WORKDIR /var/lib/estate
USER 65532:65532
# OTLP gRPC and HTTP, the collector's API; invoicing, credit, the chaos
# controller and the report server.
EXPOSE 4317 4318 8088 8081 8082 8089 8090
ENTRYPOINT ["/usr/local/bin/estate"]
CMD ["--help"]

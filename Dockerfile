# modgate: a static binary on a distroless base, run as a non-root user, with
# no shell at run time. Build: docker build -t modgate .
# See README.md, "Running a fleet", and compose.yaml for a two-replica example.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static (no cgo: SQLite and PostgreSQL drivers are pure Go), reproducible paths.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' -o /out/modgate ./cmd/modgate \
 && mkdir -p /out/data

# distroless/static: CA certificates, tzdata, /etc/passwd with "nonroot"
# (65532); no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/modgate /usr/local/bin/modgate
COPY --from=build --chown=65532:65532 /out/data /var/lib/modgate
USER 65532:65532
# Listen on every interface of the container; keep the embedded database and
# scratch space in the volume. The image has neither go nor git, so "direct"
# (VCS fetches) is not available: the default upstream list is the mirror only.
ENV MODGATE_LISTEN=:7070 \
    MODGATE_DATA=/var/lib/modgate \
    MODGATE_UPSTREAM=https://proxy.golang.org
EXPOSE 7070
VOLUME ["/var/lib/modgate"]
# SIGTERM drains (see --drain-delay and --shutdown-timeout): give the
# container a stop grace period longer than their sum.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/modgate"]
CMD ["serve"]

# syntax=docker/dockerfile:1
#
# digits: build with the official Swift image, run on Debian slim.
#   docker build -t digits .
#   docker run --rm -p 8080:8080 digits                                  # both models, binary the default
#   docker run --rm -p 8080:8080 -e DIGITS_DEFAULT_MODEL=ten-class digits

# The two base images; the defaults are the official ones. A build that reaches no registry names local
# stand-ins instead (deploy/podman/build-and-check.sh): --build-arg SWIFT_IMAGE=... --build-arg RUNTIME_IMAGE=...
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---- build ---------------------------------------------------------------------------------------
# The Swift image already holds zlib1g-dev; libpng and libjpeg-turbo, which decode the pictures sent to
# /predict, are added. Unpinned: Debian's security updates replace a pinned version within bookworm.
FROM ${SWIFT_IMAGE} AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpng-dev libjpeg62-turbo-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# Dependencies first, so that a source change does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
COPY openapi.yaml ./
COPY Sources ./Sources
# Package.swift declares the tests and the kernel benchmark as targets: without their folders it does not load.
COPY Tests ./Tests
COPY Benchmarks/ConvolutionKernels ./Benchmarks/ConvolutionKernels
# --static-swift-stdlib: the Swift runtime and Foundation go into the binary, so the runtime image needs
# only libc, libstdc++, libgcc and zlib, which Debian slim has, and libpng and libjpeg, which it adds.
RUN swift build -c release --static-swift-stdlib --product digits \
    && install -D "$(swift build -c release --show-bin-path)/digits" /staging/usr/local/bin/digits \
    && strip /staging/usr/local/bin/digits
# The models and the test split, readable by the service's user whatever the permissions of the checkout
# (COPY keeps them: a checkout made under umask 077 would give files that only root can read).
COPY data/models /staging/app/data/models
COPY data/README.md data/digits-test-X.npy data/digits-test-y.npy /staging/app/data/
RUN chmod -R a+rX,go-w /staging

# ---- run -----------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpng16-16 libjpeg62-turbo \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /staging/usr/local/bin/digits /usr/local/bin/digits
COPY --from=build /staging/app/data/models ./data/models
COPY --from=build /staging/app/data/README.md /staging/app/data/digits-test-X.npy /staging/app/data/digits-test-y.npy ./data/
# A numeric user with no home and no shell: nothing in the image needs root, and the files it reads
# belong to root, so the service cannot change them.
USER 10001:10001
ENV DIGITS_HOST=0.0.0.0 \
    DIGITS_PORT=8080
EXPOSE 8080
# SIGTERM drains (GET /model turns 503, in-flight requests finish); set DIGITS_DRAIN_DELAY behind a balancer.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["digits", "healthcheck"]
ENTRYPOINT ["digits", "serve"]

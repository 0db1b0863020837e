#!/usr/bin/env bash
# Makes local stand-ins for the base images the Dockerfile and deploy/compose.yaml name, on a machine that
# reaches no image registry (with the internet, Docker or podman pull the official ones and this is not
# needed). Each is made once and reused:
#   localhost/stand-in-debian:bookworm-slim  for debian:bookworm-slim: a minimal Debian bookworm
#                                            (debootstrap --variant=minbase) without what the slim image
#                                            leaves out: docs, manual pages, translations, package lists;
#   localhost/stand-in-swift:6.3-bookworm    for swift:6.3-bookworm: that base with the runtime packages of
#                                            the Swift toolchain, which is not in the image: it is this
#                                            machine's, bind-mounted into the build steps at $toolchain;
#   localhost/stand-in-haproxy:2.6           for haproxy:2.6: the base with Debian's HAProxy 2.6, reading
#                                            its configuration where the official image does.
# Usage (as root): source deploy/podman/stand-ins.sh   (sets CONTAINERS_CONF and $toolchain)
set -euo pipefail
CONTAINERS_CONF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/containers.conf
export CONTAINERS_CONF
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -le 16384 ]; then
    echo "podman here refuses limits that are not below the host's: lower nofile in $CONTAINERS_CONF under $(ulimit -Hn)" >&2
    exit 1
fi
if ! command -v swift >/dev/null; then
    echo "no swift on PATH: the stand-in Swift image mounts this machine's toolchain" >&2
    exit 1
fi
toolchain=$(dirname "$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")")

# Installs the Debian packages named that are missing. Usage: need_packages NAME...
need_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
need_packages podman runc debootstrap

# Each stand-in carries a label with a hash of its recipe (and of its base image), so that a changed recipe
# or base, or a toolchain in another folder, makes it again instead of reusing a stale one.
recipe_of() { podman image inspect "$1" --format '{{index .Labels "digits.recipe"}}' 2>/dev/null || true; }

# Builds image $1 from the Containerfile on stdin, unless it exists with the same recipe.
stand_in() {
    local context recipe
    context=$(mktemp -d)
    cat >"$context/Containerfile"
    recipe=$( (cat "$context/Containerfile"; recipe_of localhost/stand-in-debian:bookworm-slim) | sha256sum | cut -c1-16)
    if [ "$(recipe_of "$1")" != "$recipe" ]; then
        echo "making the stand-in $1"
        podman build --format docker --pull=never --network host --label "digits.recipe=$recipe" -t "$1" \
            "$context" >/dev/null || { rm -rf "$context"; return 1; }
    fi
    rm -rf "$context"
}

# What the official slim image leaves out, now and in every package installed later: documentation (but
# the copyright files), manual and info pages, translations; and apt's package lists and cache.
slim='path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*'
recipe=$(echo "debootstrap --variant=minbase bookworm; $slim" | sha256sum | cut -c1-16)
if [ "$(recipe_of localhost/stand-in-debian:bookworm-slim)" != "$recipe" ]; then
    echo "making the stand-in localhost/stand-in-debian:bookworm-slim (debootstrap --variant=minbase bookworm)"
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase bookworm "$rootfs" >/dev/null || { rm -rf "$rootfs"; exit 1; }
    echo "$slim" >"$rootfs/etc/dpkg/dpkg.cfg.d/slim"
    find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
    rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,locale}/* "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log
    tar -C "$rootfs" -c . | podman import --change "LABEL digits.recipe=$recipe" - \
        localhost/stand-in-debian:bookworm-slim >/dev/null
    rm -rf "$rootfs"
fi
stand_in localhost/stand-in-swift:6.3-bookworm <<CONTAINERFILE
FROM localhost/stand-in-debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends binutils ca-certificates git libc6-dev \
    libcurl4 libedit2 libgcc-12-dev libncurses6 libpython3.11 libsqlite3-0 libstdc++-12-dev libxml2 libz3-4 \
    pkg-config tzdata zlib1g-dev && apt-get clean && rm -rf /var/lib/apt/lists/*
ENV PATH=$toolchain/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CONTAINERFILE
stand_in localhost/stand-in-haproxy:2.6 <<'CONTAINERFILE'
FROM localhost/stand-in-debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends haproxy && apt-get clean \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /usr/local/etc/haproxy
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
CONTAINERFILE

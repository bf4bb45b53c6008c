#!/usr/bin/env bash
# Builds the edlforge runtime image with podman, FROM scratch, from a binary built here: no
# registry and no base image. The image holds the binary, exactly the shared libraries `ldd`
# says it links (and the dynamic loader), the CA certificates of this machine, /etc/passwd and
# /etc/group with the non-root user edlforge (uid/gid 10001), and /var/lib/edlforge owned by it.
#
#   deploy/container/build-local.sh TAG            # cargo build --release, then the image
#   deploy/container/build-local.sh TAG BINARY     # use BINARY (e.g. an existing build)
#
# Runs the same way as the Dockerfile's image (see its header for the mounts). It has no
# HEALTHCHECK: nothing in it but edlforge could run one (probe /healthz from the orchestrator,
# as deploy/kubernetes does). Needs: podman, ldd, a CA bundle in /etc/ssl/certs.
set -euo pipefail

tag=${1:?usage: build-local.sh TAG [BINARY]}
bin=${2:-}
here=$(cd -- "$(dirname -- "$0")" && pwd)
repo=$(cd -- "$here/../.." && pwd)

if [ -z "$bin" ]; then
    echo "==> cargo build --release --locked" >&2
    (cd -- "$repo" && cargo build --release --locked --bin edlforge)
    bin="$repo/target/release/edlforge"
fi
[ -x "$bin" ] || { echo "error: $bin is not an executable" >&2; exit 1; }
ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] || { echo "error: no CA bundle at $ca (apt-get install ca-certificates)" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf -- "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/var/lib" "$root/etc/ssl/certs" "$root/etc/edlforge/lists" "$root/tmp" \
    "$ctx/data"
chmod 1777 "$root/tmp"
chmod 0700 "$ctx/data"

# The binary and every library it loads, each at the path the loader looks for it.
install -m 0755 "$bin" "$root/usr/local/bin/edlforge"
if linked=$(ldd "$bin" 2>/dev/null); then
    libs=$(printf '%s\n' "$linked" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
    if printf '%s\n' "$linked" | grep -q 'not found'; then
        echo "error: $bin links a library this machine lacks:" >&2
        printf '%s\n' "$linked" | grep 'not found' >&2
        exit 1
    fi
else
    libs=""   # a static binary: nothing to copy
fi
for lib in $libs; do
    mkdir -p "$root$(dirname -- "$lib")"
    cp -L -- "$lib" "$root$lib"
done

cp -L -- "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
edlforge:x:10001:10001:edlforge:/var/lib/edlforge:/sbin/nologin
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
edlforge:x:10001:
GROUP
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"

cp -- "$here/Containerfile.scratch" "$ctx/Containerfile"
echo "==> podman build -t $tag ($(printf '%s' "$libs" | wc -w) libraries)" >&2
podman build --quiet --format docker -t "$tag" -f "$ctx/Containerfile" "$ctx"

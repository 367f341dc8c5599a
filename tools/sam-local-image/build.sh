#!/usr/bin/env bash
# Offline machines only. `sam local invoke` runs functions on AWS's Lambda base image, which SAM CLI pulls from
# public.ecr.aws; on a laptop that reaches the registry it does, and this script is not needed there. On a machine
# without an image registry (package registries only), this builds a Lambda-like python3.13 image under the exact
# name SAM CLI 1.170 asks for (public.ecr.aws/lambda/python:3.13-<arch>), with no pull: a root filesystem made of
# this machine's python3.13 (pyenv's), the shared libraries it and a few shell tools load, and the Lambda runtime
# interface client (awslambdaric, from PyPI or a wheel folder), imported with `docker import`.
# SAM then adds its own aws-lambda-rie (the "rapid" image) and the layer on top, as it does on the real image.
#
#   tools/sam-local-image/build.sh                      # then: make sam-local
#   PYTHON313=/opt/python3.13 tools/sam-local-image/build.sh
#   AWSLAMBDARIC_WHEELS=/path/to/wheels tools/sam-local-image/build.sh   # no PyPI either: awslambdaric + deps as wheels
#
# The image carries the label slipway.sam-local-image=offline: `make sam-local` then passes --skip-pull-image (SAM
# would otherwise try to pull the real image over it and fail). `docker rmi` it to go back to the real image.
set -euo pipefail

case "$(uname -m)" in
  x86_64 | amd64) arch=x86_64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "build.sh: unsupported machine $(uname -m)" >&2; exit 2 ;;
esac
image="${IMAGE:-public.ecr.aws/lambda/python:3.13-$arch}"
awslambdaric="${AWSLAMBDARIC:-awslambdaric==4.2.2}"
python_home="${PYTHON313:-$(pyenv root 2>/dev/null)/versions/3.13.0}"
python="$python_home/bin/python3.13"
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 13)' || {
  echo "build.sh: no python3.13 at $python_home (set PYTHON313 to its prefix)" >&2; exit 2; }
if ! docker info >/dev/null 2>&1; then echo "build.sh: Docker is not usable (no docker, or dockerd not running)" >&2; exit 2; fi

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/usr/{bin,lib,lib64} "$root"/{etc,opt,tmp,var/task,var/runtime,var/lang}
ln -s usr/bin "$root/bin" && ln -s usr/bin "$root/sbin" && ln -s usr/lib "$root/lib" && ln -s usr/lib64 "$root/lib64"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"

# python3.13 at /var/lang, where Lambda has it (without its tests, tkinter, headers and static library)
tar -C "$python_home" -c \
  --exclude='lib/python3.13/test' --exclude='lib/python3.13/idlelib' --exclude='lib/python3.13/tkinter' \
  --exclude='lib/python3.13/turtledemo' --exclude='lib/python3.13/config-3.13-*' --exclude='lib/python3.13/site-packages/*' \
  --exclude='*/_tkinter.*' --exclude='*/_test*' --exclude='include' --exclude='share' . | tar -C "$root/var/lang" -x

# the shell and tools SAM's Dockerfile runs (RUN mv/chmod/cp), then every shared library anything here loads
for tool in sh mv chmod cp rm mkdir cat ls env; do cp -L "$(command -v "$tool")" "$root/usr/bin/$tool"; done
libraries() { ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}'; }
mapfile -t elves < <(find "$root/usr/bin" "$root/var/lang" -type f \( -perm -u+x -o -name '*.so*' \) -exec sh -c \
  'head -c4 "$1" | grep -q ELF && echo "$1"' _ {} \;)
# plus the system libraries manylinux wheels may load without shipping them (pydantic-core needs libgcc_s), as on Lambda
libc_dir="$(dirname "$(libraries "$python" | grep '/libc\.so\.6$')")"
system=()
for name in libgcc_s.so.1 libstdc++.so.6 libdl.so.2 librt.so.1 libpthread.so.0 libutil.so.1 libresolv.so.2 \
  libz.so.1 libcrypt.so.1 libnsl.so.1; do
  if [ -e "$libc_dir/$name" ]; then system+=("$libc_dir/$name"); fi
done
for library in $({ printf '%s\n' "${system[@]}"; LD_LIBRARY_PATH="$python_home/lib" libraries "${elves[@]}" "${system[@]}"; } | sort -u); do
  case "$library" in "$python_home"/*) continue ;; esac
  mkdir -p "$root$(dirname "$library")" && cp -L "$library" "$root$library"
done

# the runtime: what Lambda's python images do with AWS's runtime interface client
"$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile --only-binary=:all: \
  --target "$root/var/runtime" ${AWSLAMBDARIC_WHEELS:+--no-index --find-links "$AWSLAMBDARIC_WHEELS"} "$awslambdaric"
cat >"$root/var/runtime/bootstrap" <<'BOOTSTRAP'
#!/bin/sh
# aws-lambda-rie runs this (/var/runtime/bootstrap) for the handler SAM names; sys.path as on Lambda
export AWS_EXECUTION_ENV=AWS_Lambda_python3.13
export PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}:/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime"
exec /var/lang/bin/python3.13 -m awslambdaric "${_HANDLER:-$AWS_LAMBDA_FUNCTION_HANDLER}"
BOOTSTRAP
chmod +x "$root/var/runtime/bootstrap"

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin' \
  --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
  --change 'ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime LANG=C.UTF-8 TZ=:UTC' \
  --change 'WORKDIR /var/task' \
  --change 'LABEL slipway.sam-local-image=offline' \
  --change 'ENTRYPOINT ["/var/runtime/bootstrap"]' \
  - "$image"
docker run --rm --network none -e PYTHONPATH=/var/runtime --entrypoint /var/lang/bin/python3.13 "$image" -c \
  'import awslambdaric, ssl, sqlite3, ctypes, decimal, zoneinfo, sys; print("python", sys.version.split()[0], "+ awslambdaric")'
echo "built $image"

#!/bin/sh
# Install every Debian package the build, the tests and the benchmarks need.
# Idempotent and non-interactive: does nothing when all are present.
# Usage: scripts/deps.sh [build|test|bench|all]   (default: all)
set -eu

build="build-essential pkg-config libnanomsg-dev libbsd-dev libinih-dev libsodium-dev libsqlite3-dev"
test="libcmocka-dev nanomsg-utils python3 valgrind clang libclang-rt-14-dev procps iproute2 ngircd irssi tmux ii weechat-headless"
bench="s6 hyperfine ngircd"

case "${1:-all}" in
build) want=$build ;;
test)  want="$build $test" ;;
bench) want="$build $bench" ;;
all)   want="$build $test $bench" ;;
*) echo "usage: $0 [build|test|bench|all]" >&2; exit 100 ;;
esac

missing=
for p in $want; do
	s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$s" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing" >&2
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null

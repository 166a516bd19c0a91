#!/usr/bin/env bash
# Installs libmuxwire: install.sh PREFIX LIB_DIR (LIB_DIR: where cargo put libmuxwire.*).
# Puts the shared library (with its soname links), the static one, the header, a
# pkg-config file and a CMake package config under PREFIX. Run from the repository root;
# `make install PREFIX=...` builds the release library and calls this.
set -euo pipefail
PREFIX=$(realpath -m "$1")
LIB=$2
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
MAJOR=${VERSION%%.*}
REST=${VERSION#*.}
MINOR=${REST%%.*}
[ -n "$VERSION" ] || { echo "install: no version in Cargo.toml"; exit 1; }

install -d "$PREFIX/include" "$PREFIX/lib/pkgconfig" "$PREFIX/lib/cmake/muxwire"
install -m 644 include/muxwire.h "$PREFIX/include/muxwire.h"
install -m 755 "$LIB/libmuxwire.so" "$PREFIX/lib/libmuxwire.so.$VERSION"
ln -sf "libmuxwire.so.$VERSION" "$PREFIX/lib/libmuxwire.so.$MAJOR"
ln -sf "libmuxwire.so.$MAJOR" "$PREFIX/lib/libmuxwire.so"
install -m 644 "$LIB/libmuxwire.a" "$PREFIX/lib/libmuxwire.a"

subst() {
    sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@VERSION@|$VERSION|g" -e "s|@MAJOR@|$MAJOR|g" \
        -e "s|@MINOR@|$MINOR|g" "$1" >"$2"
}
subst rpc-ffi/pkg/muxwire.pc.in "$PREFIX/lib/pkgconfig/muxwire.pc"
subst rpc-ffi/pkg/muxwire-config.cmake "$PREFIX/lib/cmake/muxwire/muxwire-config.cmake"
subst rpc-ffi/pkg/muxwire-config-version.cmake \
    "$PREFIX/lib/cmake/muxwire/muxwire-config-version.cmake"
echo "installed libmuxwire $VERSION under $PREFIX"

#!/usr/bin/env bash
# A Go program in its own module, outside the repository, built against an
# installed lb the way the README's Go section says: the `replace` line for a
# local clone, PKG_CONFIG_PATH, and either -ldflags=-r=<libdir> (shared) or
# -tags lb_static (static, nothing of lb needed at run time). Runs both with no
# LD_LIBRARY_PATH.
#
#   tests/go-outside.sh     ends with "go-outside: N passed, M failed"
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
if [ -d /usr/local/go/bin ]; then PATH=$PATH:/usr/local/go/bin; fi
# Go's build cache keeps a cgo package's link flags, with pkg-config's absolute
# path to liblb.a in them, without keying on pkg-config's output: a cache shared
# with earlier installs could link a liblb.a that is gone. So the builds here use
# a cache of their own, under the build directory (kept between runs: the same
# prefix each time).
tmp=$root/build/go-outside
rm -rf "$tmp/prefix" "$tmp/app"
mkdir -p "$tmp"
export GOCACHE=$tmp/gocache
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

prefix=$tmp/prefix
make -s install PREFIX="$prefix" >/dev/null 2>&1 || bad "make install"
app=$tmp/app
mkdir -p "$app"
cat >"$app/main.go" <<'GO'
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/lb-project/lb/examples/go/lb"
)

func main() {
	b, err := lb.New(lb.Maglev)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer b.Close()
	if err := b.SetInstances([]lb.Instance{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}}); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	p, err := b.SelectKey(lb.HashBytes([]byte("user:42")))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	if err := b.Report(p, lb.Success, time.Millisecond); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("lb from Go: ok")
}
GO
(
    cd "$app" || exit 1
    go mod init example.com/app >/dev/null 2>&1
    go mod edit -require=github.com/lb-project/lb/examples/go@v0.0.0 \
        -replace=github.com/lb-project/lb/examples/go="$root/examples/go"
)
unset LD_LIBRARY_PATH
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig GOFLAGS=-mod=mod
if (cd "$app" && go build -ldflags="-r=$prefix/lib" -o "$tmp/shared" .) &&
    "$tmp/shared" | grep -q ": ok"; then ok "shared, -ldflags=-r"; else bad "shared, -ldflags=-r"; fi
if (cd "$app" && go build -tags lb_static -o "$tmp/static" .) &&
    "$tmp/static" | grep -q ": ok"; then ok "static, -tags lb_static"; else bad "static, -tags lb_static"; fi
if ! readelf -d "$tmp/static" 2>/dev/null | grep -q liblb; then ok "static needs no liblb.so";
else bad "static links liblb.so"; fi
echo "go-outside: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

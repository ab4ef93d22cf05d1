# Builds and installs lb's C library, and runs the C ABI checks.
#
#   make                      build target/release/liblb.{so,a}
#   make install PREFIX=/usr/local [DESTDIR=...]
#                             install include/lb.h, include/lb.hpp (C++ wrapper),
#                             lib/liblb.so.X.Y.Z (+ liblb.so.X, liblb.so links),
#                             lib/liblb.a and lib/pkgconfig/lb.pc
#   make uninstall PREFIX=...
#   make header               regenerate include/lb.h with the pinned cbindgen
#   make cbindgen             install the pinned cbindgen (the version pinned in cbindgen.toml)
#   make test                 every test: lint (fmt, clippy, cargo doc without warnings, no
#                             import cycle or upward import in src/, no file in src/ over 450
#                             lines), cargo test (core, simulator, C ABI unit tests, doc
#                             tests), the memory check, tests/c-abi.sh, the nginx module's
#                             tests (examples/nginx/test.sh), no panic site in the unguarded request path
#                             (tests/fast-path.py),
#                             instructions per pair with many balancers and each strategy's
#                             instruction budget (callgrind),
#                             ThreadSanitizer on the C stress program, a one-minute
#                             fuzz run, the loom models
#   make fuzz FUZZ_SECONDS=N  the fuzzer alone, for N seconds (default 60)
#   make check                tests/c-abi.sh: header, SONAME, exports, layouts,
#                             C, C++ and Go clients and tests, sanitizers

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR ?=
CARGO ?= cargo
CBINDGEN ?= cbindgen
CARGO_TARGET_DIR ?= target
RELEASE_DIR := $(CARGO_TARGET_DIR)/release

VERSION := $(shell sed -n 's/^version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
CBINDGEN_VERSION := $(shell sed -n 's/^# cbindgen-version: *//p' cbindgen.toml)

# What liblb.a needs from the system, as printed by
# `cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs`.
LIBS_PRIVATE ?= -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
space := $(subst ,, )

FUZZ_SECONDS ?= 60

.PHONY: all build install uninstall header cbindgen check lint test fuzz tsan

all: build

build:
	$(CARGO) build --release --lib -p lb

install: build
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(LIBDIR)/cmake/lb
	install -m 644 include/lb.h $(DESTDIR)$(INCLUDEDIR)/lb.h
	install -m 644 examples/cpp/include/lb.hpp $(DESTDIR)$(INCLUDEDIR)/lb.hpp
	install -m 755 $(RELEASE_DIR)/liblb.so $(DESTDIR)$(LIBDIR)/liblb.so.$(VERSION)
	ln -sf liblb.so.$(VERSION) $(DESTDIR)$(LIBDIR)/liblb.so.$(MAJOR)
	ln -sf liblb.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/liblb.so
	install -m 644 $(RELEASE_DIR)/liblb.a $(DESTDIR)$(LIBDIR)/liblb.a
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS_PRIVATE@|$(LIBS_PRIVATE)|' include/lb.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/lb.pc
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS_PRIVATE@|$(LIBS_PRIVATE)|' include/lb-static.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/lb-static.pc
	for f in lbConfig lbConfigVersion; do \
	    sed -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	        -e 's|@VERSION@|$(VERSION)|' -e 's|@MAJOR@|$(MAJOR)|' \
	        -e 's|@LIBS_PRIVATE_CMAKE@|$(subst $(space),;,$(LIBS_PRIVATE))|' \
	        include/$$f.cmake.in > $(DESTDIR)$(LIBDIR)/cmake/lb/$$f.cmake; done
	@# Nothing outside DESTDIR/PREFIX is touched (no ldconfig): say what a
	@# program needs at run time instead.
	@echo "installed liblb into $(DESTDIR)$(LIBDIR): programs linked against liblb.so find it"
	@echo "there if that directory is on the loader's path (for a system directory, run"
	@echo "ldconfig as root), through LD_LIBRARY_PATH, or through an rpath"
	@echo "(-Wl,-rpath,$(LIBDIR)); linked against liblb.a they need nothing."

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/lb.h $(DESTDIR)$(INCLUDEDIR)/lb.hpp
	rm -f $(DESTDIR)$(LIBDIR)/liblb.so.$(VERSION) $(DESTDIR)$(LIBDIR)/liblb.so.$(MAJOR)
	rm -f $(DESTDIR)$(LIBDIR)/liblb.so $(DESTDIR)$(LIBDIR)/liblb.a
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/lb.pc $(DESTDIR)$(LIBDIR)/pkgconfig/lb-static.pc
	rm -f $(DESTDIR)$(LIBDIR)/cmake/lb/lbConfig.cmake $(DESTDIR)$(LIBDIR)/cmake/lb/lbConfigVersion.cmake

cbindgen:
	@if $(CBINDGEN) --version 2>/dev/null | grep -qx "cbindgen $(CBINDGEN_VERSION)"; then \
	    echo "cbindgen $(CBINDGEN_VERSION) already installed"; \
	else $(CARGO) install cbindgen --version $(CBINDGEN_VERSION) --locked; fi

header:
	@$(CBINDGEN) --version | grep -qx "cbindgen $(CBINDGEN_VERSION)" || \
	    { echo "need cbindgen $(CBINDGEN_VERSION) (make cbindgen)" >&2; exit 1; }
	$(CBINDGEN) --quiet --config cbindgen.toml src/ffi/mod.rs --output include/lb.h

check:
	tests/c-abi.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps
	python3 tests/import-cycles.py
	tests/file-lengths.sh

fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

tsan:
	tests/tsan.sh

test: cbindgen lint
	$(CARGO) test --workspace
	$(CARGO) run --release --example memory_flat
	tests/c-abi.sh
	tests/install.sh
	tests/go-outside.sh
	examples/nginx/test.sh
	python3 tests/fast-path.py $(RELEASE_DIR)/liblb.so
	tests/callgrind-pairs.sh
	tests/instruction-budget.sh
	tests/tsan.sh
	fuzz/run.sh $(FUZZ_SECONDS)
	loom-tests/run.sh

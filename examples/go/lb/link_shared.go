//go:build !lb_static

package lb

// Linked against liblb.so through pkg-config (lb.pc). The program then needs the
// loader to find liblb.so.1 when it runs: build with -ldflags=-r=<libdir>, or set
// LD_LIBRARY_PATH, or install into a system library directory.

/*
#cgo pkg-config: lb
*/
import "C"

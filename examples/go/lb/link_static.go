//go:build lb_static

package lb

// Built with -tags lb_static: linked against liblb.a through pkg-config
// (lb-static.pc, installed beside lb.pc), so the program needs nothing of lb at
// run time.

/*
#cgo pkg-config: lb-static
*/
import "C"

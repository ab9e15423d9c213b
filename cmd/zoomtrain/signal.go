package main

import (
	"context"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// exitStatus is the exit status of a run stopped by sig: 128 + the signal number (130
// for SIGINT, 129 for SIGHUP, 143 for SIGTERM).
func exitStatus(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// survivePipeClose makes a write to a closed pipe on stdout or stderr fail with EPIPE
// instead of killing the process with SIGPIPE (the Go runtime's default for those two
// descriptors), so that a log piped into a reader that exits ('2>&1 | head -1') does
// not end training; the caller ignores errors of progress writes. It returns a
// function that restores the default.
func survivePipeClose() (restore func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGPIPE)
	return func() { signal.Stop(ch) }
}

// interruptContext returns a context cancelled on the first SIGINT, SIGTERM or SIGHUP
// (the hangup of a closed terminal or a dropped ssh session), a
// function that reports that signal (nil while none came), and stop, which ends the
// watch. first, when set, is called with the first signal before the cancel. second,
// when set, is called with a second signal, and the process then exits at once with
// its exitStatus; without it a second signal is ignored.
func interruptContext(parent context.Context, first, second func(os.Signal)) (context.Context, func() os.Signal, func()) {
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	var got atomic.Value
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			got.Store(sig)
			if first != nil {
				first(sig)
			}
			cancel()
		case <-done:
			return
		}
		if second == nil {
			return
		}
		select {
		case sig := <-ch:
			second(sig)
			os.Exit(exitStatus(sig))
		case <-done:
		}
	}()
	which := func() os.Signal {
		if v := got.Load(); v != nil {
			return v.(os.Signal)
		}
		return nil
	}
	stop := func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
	return ctx, which, stop
}

// Command nntpsink is a null NNTP peer for benchmarks: it accepts every article offered
// by IHAVE, CHECK or TAKETHIS, keeps only counts, and prints them when it is stopped, so
// innxmit and nxmit can be timed against the same receiver.
//
//	nntpsink [-listen 127.0.0.1:PORT] [-delay 50ms] [-nostream]
//
// It prints "nntpsink: listening on ADDR" once ready, and on SIGTERM or SIGINT one line
// of counts ("nntpsink: connections N check N takethis N ihave N accepted N ...").
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"nxmit/nntp/nntptest"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, stop))
}

// run is the program without its process: it serves until stop receives.
func run(args []string, stdout, stderr io.Writer, stop <-chan os.Signal) int {
	fs := flag.NewFlagSet("nntpsink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	delay := fs.Duration("delay", 0, "send each reply this long after its command (a simulated round trip; pipelining kept)")
	noStream := fs.Bool("nostream", false, "refuse MODE STREAM (501), so feeders use IHAVE")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: nntpsink [-listen ADDR] [-delay D] [-nostream]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}

	srv, err := nntptest.Start(*listen, nntptest.Script{CountOnly: true, Delay: *delay, NoStream: *noStream})
	if err != nil {
		fmt.Fprintf(stderr, "nntpsink: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "nntpsink: listening on %s\n", srv.Addr)

	<-stop
	srv.Close()
	st := srv.Stats()
	fmt.Fprintf(stdout, "nntpsink: connections %d check %d takethis %d ihave %d accepted %d refused %d rejected %d deferred %d articles %d bytes %d\n",
		st.Connections, st.Commands["CHECK"], st.Commands["TAKETHIS"], st.Commands["IHAVE"],
		st.Accepted, st.Refused, st.Rejected, st.Deferred, st.Articles, st.Bytes)
	return 0
}

// Command nntpsink is a null NNTP peer for benchmarks: it accepts every article offered
// by IHAVE, CHECK or TAKETHIS, keeps only counts, and prints them when it is stopped, so
// innxmit and nxmit can be timed against the same receiver.
//
//	nntpsink -listen 127.0.0.1:PORT [-delay 50ms] [-nostream]
//
// It prints "nntpsink: listening on ADDR" once ready, and on SIGTERM or SIGINT one line
// of counts ("nntpsink: connections N check N takethis N ihave N accepted N ...").
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"nxmit/nntp/nntptest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	delay := flag.Duration("delay", 0, "send each reply this long after its command (a simulated round trip; pipelining kept)")
	noStream := flag.Bool("nostream", false, "refuse MODE STREAM (501), so feeders use IHAVE")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: nntpsink [-listen ADDR] [-delay D] [-nostream]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	srv, err := nntptest.Start(*listen, nntptest.Script{CountOnly: true, Delay: *delay, NoStream: *noStream})
	if err != nil {
		fmt.Fprintf(os.Stderr, "nntpsink: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("nntpsink: listening on %s\n", srv.Addr)

	<-stop
	srv.Close()
	st := srv.Stats()
	fmt.Printf("nntpsink: connections %d check %d takethis %d ihave %d accepted %d refused %d rejected %d deferred %d articles %d bytes %d\n",
		st.Connections, st.Commands["CHECK"], st.Commands["TAKETHIS"], st.Commands["IHAVE"],
		st.Accepted, st.Refused, st.Rejected, st.Deferred, st.Articles, st.Bytes)
}

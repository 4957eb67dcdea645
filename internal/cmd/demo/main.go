// Command demo shows nxmit moving articles between two real INN servers: it starts a
// throwaway sender and receiver innd on 127.0.0.1, injects articles into the sender (whose
// newsfeeds entry "peer" writes a real token feed file), then runs `nxmit rotate peer` and
// `nxmit send peer` exactly as cron would, and checks that the receiver has every article.
//
// Run it with scripts/demo, which builds nxmit first.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"nxmit/internal/innlab"
)

func main() {
	nxmit := flag.String("nxmit", "", "path of the nxmit binary to run")
	count := flag.Int("n", 2000, "articles to inject and send")
	method := flag.String("method", "timehash", "sender's storage method: timehash, tradspool, cnfs or timecaf")
	keep := flag.Bool("keep", false, "leave the servers running and their directory in place")
	flag.Parse()
	if err := run(*nxmit, *count, innlab.Method(*method), *keep); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(nxmit string, count int, method innlab.Method, keep bool) error {
	if nxmit == "" {
		return fmt.Errorf("-nxmit is required (scripts/demo builds it)")
	}
	if err := innlab.Ensure(); err != nil {
		return err
	}
	// innlab puts it on tmpfs when it can: innd creates a file per article, and on this
	// kind of machine's disk that alone would hold it to about 1,000 articles/s.
	base, err := innlab.TempDir()
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(base)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		return err
	}

	step("starting a receiving innd")
	receiver, err := innlab.Start(filepath.Join(base, "recv"), innlab.Options{Detach: keep})
	if err != nil {
		return err
	}
	if !keep {
		defer receiver.Stop()
	}
	fmt.Printf("   receiver on %s (%s)\n", receiver.Addr, receiver.Dir)

	step("starting a sending innd with a newsfeeds entry 'peer:*:Tf,Wnm:' (storage: %s)", method)
	sender, err := innlab.Start(filepath.Join(base, "send"), innlab.Options{
		Method: method,
		Detach: keep,
		Feeds:  []string{"peer:*,!junk,!control,!control.*:Tf,Wnm:"},
	})
	if err != nil {
		return err
	}
	if !keep {
		defer sender.Stop()
	}
	fmt.Printf("   sender on %s (%s)\n", sender.Addr, sender.Dir)

	step("injecting %d articles into the sender", count)
	arts := innlab.Generate(innlab.GenOptions{Count: count, Seed: time.Now().UnixNano(), Specials: true})
	t0 := time.Now()
	if err := sender.Inject(arts); err != nil {
		return err
	}
	fmt.Printf("   done in %.1fs\n", time.Since(t0).Seconds())

	env := append(os.Environ(), "INNCONF="+sender.InnConf)
	step("nxmit rotate peer   (feed file -> backlog: link, ctlinnd flush, install)")
	if err := nx(nxmit, env, "-v", "rotate", "--force", "peer"); err != nil {
		return err
	}
	listQueue(sender.Outgoing)

	step("nxmit send peer --host 127.0.0.1 --port %d", receiver.Port)
	t0 = time.Now()
	if err := nx(nxmit, env, "-v", "send", "--host", "127.0.0.1", "--port", fmt.Sprint(receiver.Port), "peer"); err != nil {
		return err
	}
	elapsed := time.Since(t0)
	listQueue(sender.Outgoing)

	step("checking the receiver's history for every message-id")
	mids := make([]string, len(arts))
	for i, a := range arts {
		mids[i] = a.MessageID
	}
	missing, err := receiver.Missing(mids)
	if err != nil {
		return err
	}
	fmt.Printf("   injected %d, received %d, missing %d; send took %.2fs (%.0f articles/s)\n",
		len(mids), len(mids)-len(missing), len(missing), elapsed.Seconds(), float64(len(mids))/elapsed.Seconds())
	if len(missing) > 0 {
		return fmt.Errorf("%d articles did not arrive, e.g. %s", len(missing), missing[0])
	}

	step("a second nxmit send offers nothing")
	if err := nx(nxmit, env, "-v", "send", "--host", "127.0.0.1", "--port", fmt.Sprint(receiver.Port), "peer"); err != nil {
		return err
	}
	fmt.Println("\ndemo: OK")
	if keep {
		fmt.Printf("servers left running; stop them with INNCONF=%s ctlinnd shutdown x (and the receiver's)\n", sender.InnConf)
	}
	return nil
}

func step(format string, args ...any) { fmt.Printf("\n== "+format+"\n", args...) }

func nx(bin string, env []string, args ...string) error {
	fmt.Printf("   $ nxmit %s\n", strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nxmit %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func listQueue(dir string) {
	ents, _ := os.ReadDir(dir)
	fmt.Printf("   %s:", dir)
	if len(ents) == 0 {
		fmt.Print(" (empty)")
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			fmt.Printf(" %s(%d bytes)", e.Name(), fi.Size())
		}
	}
	fmt.Println()
}

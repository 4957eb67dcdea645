package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"nxmit/audit"
	"nxmit/batch"
	"nxmit/spoolfmt"
)

// TraceCmd answers "where is this article, and what happened to it".
type TraceCmd struct {
	Article string   `arg:"" name:"article" help:"The article: its <message-id> or its storage token @...@."`
	Sites   []string `arg:"" optional:"" name:"site" help:"Sites to look at (default: the configured sites and every site with queue files)."`
	JSON    bool     `help:"Print JSON for scripts."`
}

// Help is shown under the subcommand's usage.
func (c *TraceCmd) Help() string {
	return `For each site: where the article is queued now (the live feed file, a backlog, a
deferral file, the quarantine S.bad; FILE:LINE), or what the site's article log says
happened to it and when (accepted, refused, rejected, missing, deferred, with the peer's
reply), or that it was never queued for the site. Then whether the spool still holds
it: storage method, size, arrival time, and INN's history line when readable.

A message-id is looked up in INN's history to learn its token (feed files written with
Wn hold the token alone); a token is read from the spool to learn its message-id.
Files are streamed; nothing is locked or changed.`
}

// Run traces the article.
func (c *TraceCmd) Run(g *Globals) error {
	key := c.Article
	if !spoolfmt.IsToken(key) && !(strings.HasPrefix(key, "<") && strings.HasSuffix(key, ">") && len(key) > 2) {
		return usagef("%q is neither a <message-id> nor a storage token @...@", key)
	}
	if err := g.dropRoot(); err != nil {
		return err
	}
	dir, err := g.OutgoingDir()
	if err != nil {
		return err
	}
	conf, err := g.SiteConfig()
	if err != nil {
		return err
	}
	sites := c.Sites
	if len(sites) == 0 {
		if sites, err = discoverSites(dir, conf.SiteNames()); err != nil {
			return err
		}
	}
	var opt audit.TraceOptions
	for _, s := range sites {
		if err := batch.SiteNameError(s); err != nil {
			return usagef("%v", err)
		}
		ts := audit.TraceSite{Queue: batch.Queue{Dir: dir, Site: s, OtherSites: otherSites(sites, s)}}
		if pattern := conf.Resolve(s).ArticleLog; pattern != "" {
			ts.HasLog, ts.LogFiles = true, audit.LogFiles(pattern)
		}
		opt.Sites = append(opt.Sites, ts)
	}
	if ic, err := g.InnConf(); err == nil {
		opt.History = spoolfmt.HistoryPath(ic)
		if store, err := spoolfmt.OpenStore(ic); err == nil {
			defer store.Close()
			opt.Store = store
		}
	}
	tr, err := audit.TraceArticle(key, opt)
	if err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(tr)
	}
	printTrace(os.Stdout, tr)
	return nil
}

func stamp(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }

// printTrace writes the human form: the article, the spool, then a paragraph a site.
func printTrace(w io.Writer, tr audit.Trace) {
	name := tr.Key
	if tr.MessageID != "" && tr.MessageID != tr.Key {
		name += " " + tr.MessageID
	}
	if tr.Spool.Token != "" && tr.Spool.Token != tr.Key {
		name += " " + tr.Spool.Token
	}
	fmt.Fprintln(w, name)
	sp := tr.Spool
	switch {
	case sp.InSpool:
		line := fmt.Sprintf("spool: stored (%s, %d bytes", sp.Method, sp.Size)
		if sp.Arrived != nil {
			line += ", arrived " + stamp(*sp.Arrived)
		}
		fmt.Fprintln(w, line+")")
	case sp.Checked:
		fmt.Fprintf(w, "spool: gone (%s token; expired, cancelled or overwritten)\n", sp.Method)
	case sp.Token == "" && sp.HistoryOK:
		fmt.Fprintln(w, "spool: no token known (not in history with one)")
	default:
		fmt.Fprintln(w, "spool: not checked (inn.conf or the spool not readable)")
	}
	if h := sp.History; h != nil {
		line := fmt.Sprintf("history: line %d: arrived %s", h.Line, stamp(h.Arrived))
		if !h.Expires.IsZero() {
			line += ", expires " + stamp(h.Expires)
		}
		if !h.HasToken {
			line += "; remembered without a token (the article is gone or was refused)"
		}
		fmt.Fprintln(w, line)
	} else if sp.HistoryOK {
		fmt.Fprintln(w, "history: no such message-id")
	}
	for _, p := range sp.Problems {
		fmt.Fprintln(w, "problem: "+p)
	}
	for _, s := range tr.Sites {
		for _, p := range s.Places {
			state := "queued in " + p.Kind
			if p.Done {
				state = "sent (compressed backlog's progress file), line still in"
			}
			line := fmt.Sprintf("%s: %s %s:%d", s.Site, state, p.Path, p.Line)
			if p.Kind == audit.PlaceDeferral || p.Kind == audit.PlaceDeferOpen {
				if s.HasLog {
					line += fmt.Sprintf(" (deferred %d times per the article log)", s.Deferrals)
				}
			}
			fmt.Fprintln(w, line)
		}
		for _, f := range s.Log {
			reply := ""
			if f.Code != 0 {
				reply = fmt.Sprintf(", reply %d %s", f.Code, f.Text)
			} else if f.Text != "" {
				reply = ": " + f.Text
			}
			conn := ""
			if f.Conn > 0 {
				conn = fmt.Sprintf(" connection %d", f.Conn)
			}
			fmt.Fprintf(w, "%s: %s %s by %s%s%s (%s:%d)\n", s.Site, f.Outcome, stamp(f.Time), f.Host, conn, reply, f.Path, f.Line)
		}
		if len(s.Places) == 0 && len(s.Log) == 0 {
			why := ""
			if !s.HasLog {
				why = " (no article-log configured: what was sent is not recorded)"
			}
			fmt.Fprintf(w, "%s: not queued for this site%s\n", s.Site, why)
		}
	}
}

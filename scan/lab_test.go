package scan

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"nxmit/batch"
	"nxmit/internal/innlab"
	"nxmit/spoolfmt"
	"nxmit/wildmat"
)

// labGroups are the groups of the lab's articles.
var labGroups = []string{"comp.lang.go", "comp.os.linux", "comp.binaries.x", "misc.test", "alt.test"}

// labArticle is one injected article and what the test knows of it.
type labArticle struct {
	mid       string
	groups    []string
	posted    time.Time
	size      int // body bytes, roughly
	cancelled bool
}

// labSpool is a real innd holding articles posted over 12 days in several groups,
// some cancelled, with its history flushed to disk.
type labSpool struct {
	inst  *innlab.Instance
	store *spoolfmt.Store
	arts  []labArticle
	now   time.Time
}

func startLab(t *testing.T, method innlab.Method, n int) *labSpool {
	t.Helper()
	inst := innlab.StartT(t, innlab.Options{Method: method, Groups: labGroups})
	now := time.Now().UTC().Truncate(time.Second)
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	var arts []labArticle
	var inject []innlab.Article
	for i := range n {
		a := labArticle{
			mid:    fmt.Sprintf("<scan%d.%s@Lab.TEST>", i, method),
			groups: []string{labGroups[i%len(labGroups)]},
			posted: now.Add(-time.Duration(i%12)*24*time.Hour - time.Duration(rng.IntN(3600))*time.Second),
			size:   200 + rng.IntN(6000),
		}
		if i%7 == 3 {
			a.groups = append(a.groups, labGroups[(i+2)%len(labGroups)])
		}
		if i == 5 {
			a.mid = "<PostMaster@Lab.TEST>" // INN hashes its local part case-insensitively too
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "Path: injector!not-for-mail\nFrom: t@lab.test\nSubject: scan %d\nDate: %s\n", i, a.posted.Format(time.RFC1123Z))
		if i == 8 {
			// A header longer than the first read (16 KB), Message-ID and Newsgroups
			// after it.
			for range 300 {
				b.WriteString("X-Filler: " + strings.Repeat("x", 80) + "\n")
			}
		}
		fmt.Fprintf(&b, "Newsgroups: %s\nMessage-ID: %s\n\n", strings.Join(a.groups, ","), a.mid)
		for b.Len() < a.size {
			b.WriteString("a line of body text for the scan test\n")
		}
		arts = append(arts, a)
		inject = append(inject, innlab.Article{MessageID: a.mid, Newsgroups: a.groups, Body: b.Bytes()})
	}
	if err := inst.Inject(inject); err != nil {
		t.Fatal(err)
	}
	for i := range arts {
		if i%9 == 4 {
			if _, err := inst.Ctlinnd("cancel", arts[i].mid); err != nil {
				t.Fatal(err)
			}
			arts[i].cancelled = true
		}
	}
	if _, err := inst.Ctlinnd("flush", ""); err != nil {
		t.Fatal(err)
	}
	conf, err := spoolfmt.LoadInnConf(inst.InnConf)
	if err != nil {
		t.Fatal(err)
	}
	store, err := spoolfmt.OpenStore(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &labSpool{inst: inst, store: store, arts: arts, now: now}
}

func (l *labSpool) history() string { return filepath.Join(l.inst.PathDB, "history") }

// grephistory returns INN's token for mid and its history line.
func (l *labSpool) grephistory(t *testing.T, mid string) (token, line string) {
	t.Helper()
	out, err := l.inst.Command("grephistory", mid).Output()
	if err != nil {
		t.Fatalf("grephistory %s: %v", mid, err)
	}
	full, err := l.inst.Command("grephistory", "-l", mid).Output()
	if err != nil {
		t.Fatalf("grephistory -l %s: %v", mid, err)
	}
	return strings.TrimSpace(string(out)), strings.TrimSpace(string(full))
}

// smHas reports whether INN's sm can still retrieve the article.
func (l *labSpool) smHas(token string) bool {
	return l.inst.Command("sm", "-q", token).Run() == nil
}

func scanLines(t *testing.T, opt Options) ([]string, Stats) {
	t.Helper()
	var out bytes.Buffer
	st, err := Scan(&out, opt)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"), st
}

// TestScanLab compares scan's output with what INN's grephistory and sm say should
// match, for several selections, on each storage method.
func TestScanLab(t *testing.T) {
	for _, method := range []innlab.Method{innlab.TimeHash, innlab.CNFS, innlab.TradSpool, innlab.TimeCAF} {
		t.Run(string(method), func(t *testing.T) {
			lab := startLab(t, method, 60)
			tokens := map[string]string{}
			for _, a := range lab.arts {
				tok, hl := lab.grephistory(t, a.mid)
				e, err := spoolfmt.ParseHistoryLine(hl)
				if err != nil {
					t.Fatalf("grephistory -l %s: %q: %v", a.mid, hl, err)
				}
				if spoolfmt.HashMessageID(a.mid) != e.Hash {
					t.Fatalf("HashMessageID(%s) = %X, INN's history has %X", a.mid, spoolfmt.HashMessageID(a.mid), e.Hash)
				}
				if has := lab.smHas(tok); has == a.cancelled {
					t.Fatalf("%s: sm finds it %v, cancelled %v", a.mid, has, a.cancelled)
				}
				tokens[a.mid] = tok
			}
			comp, _ := wildmat.CompilePoison("comp.*,!comp.binaries.*")
			poison, _ := wildmat.CompilePoison("*,@alt.*")
			cases := []struct {
				name string
				opt  Options
				want func(a labArticle) bool
			}{
				{"all", Options{}, func(labArticle) bool { return true }},
				{"posted 5 days", Options{ByPosted: true, Since: lab.now.Add(-5 * 24 * time.Hour)},
					func(a labArticle) bool { return !a.posted.Before(lab.now.Add(-5 * 24 * time.Hour)) }},
				{"posted until 3 days ago", Options{ByPosted: true, Until: lab.now.Add(-3 * 24 * time.Hour)},
					func(a labArticle) bool { return a.posted.Before(lab.now.Add(-3 * 24 * time.Hour)) }},
				{"arrived in the last hour", Options{Since: lab.now.Add(-time.Hour)}, func(labArticle) bool { return true }},
				{"arrived before an hour ago", Options{Until: lab.now.Add(-time.Hour)}, func(labArticle) bool { return false }},
				{"comp", Options{Groups: comp}, func(a labArticle) bool {
					return slices.ContainsFunc(a.groups, func(g string) bool {
						return strings.HasPrefix(g, "comp.") && !strings.HasPrefix(g, "comp.binaries.")
					})
				}},
				{"poison alt", Options{Groups: poison}, func(a labArticle) bool {
					return !slices.ContainsFunc(a.groups, func(g string) bool { return strings.HasPrefix(g, "alt.") })
				}},
				{"size", Options{MinSize: 2000, MaxSize: 4000}, nil},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					tc.opt.History, tc.opt.Spool = lab.history(), lab.store
					var warns []string
					tc.opt.Warn = func(err error) { warns = append(warns, err.Error()) }
					got, st := scanLines(t, tc.opt)
					var want []string
					for _, a := range lab.arts {
						if a.cancelled {
							continue
						}
						if tc.want == nil {
							art, err := lab.store.Retrieve(mustToken(t, tokens[a.mid]), nil)
							if err != nil {
								t.Fatal(err)
							}
							if len(art) < 2000 || len(art) > 4000 {
								continue
							}
						} else if !tc.want(a) {
							continue
						}
						want = append(want, tokens[a.mid]+" "+a.mid)
					}
					if len(want) == 0 {
						want = []string{""}
					}
					if !slices.Equal(got, want) {
						t.Errorf("scan wrote\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
					}
					if len(warns) > 0 {
						t.Errorf("warnings: %v", warns)
					}
					if st.Lines != int64(len(lab.arts)) || st.Lines != st.Written+st.Remembered+st.Time+st.Missing+st.Groups+st.Size+st.Mismatch+st.Malformed+st.Errors {
						t.Errorf("counts do not add up: %+v", st)
					}
					for _, l := range got {
						if l == "" {
							continue
						}
						if _, err := batch.ParseLine([]byte(l)); err != nil {
							t.Errorf("%q: %v", l, err)
						}
					}
				})
			}
		})
	}
}

func mustToken(t *testing.T, s string) spoolfmt.Token {
	t.Helper()
	tok, err := spoolfmt.ParseToken(s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestScanResume kills a scan at 20 random moments (the test hook stops it as a kill
// would: no flush, no checkpoint after the last one) and resumes it each time; the
// finished output is exactly an uninterrupted scan's.
func TestScanResume(t *testing.T) {
	lab := startLab(t, innlab.TimeHash, 150)
	defer func(n int) { chunkLines = n }(chunkLines)
	chunkLines = 3
	opt := Options{History: lab.history(), Spool: lab.store, ByPosted: true, Since: lab.now.Add(-8 * 24 * time.Hour), Key: "test"}
	var want bytes.Buffer
	wantSt, err := Scan(&want, opt)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	partial := filepath.Join(dir, "peer.scan")
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	for kills < 20 {
		o := opt
		o.CheckpointLines = int64(1 + rng.IntN(20))
		at := int64(rng.IntN(len(lab.arts) + 10))
		o.crash = func(line int64) bool { return line >= at }
		// A later run gives Since anew ("8 days ago" then): the checkpoint's wins.
		o.Since = o.Since.Add(time.Duration(kills) * time.Hour)
		res, err := File(partial, o)
		if err == nil {
			if !res.Resumed && kills > 0 {
				t.Fatalf("did not resume: %s", res.Notice)
			}
			os.Remove(CheckpointPath(partial)) // as Queue does after installing
			got, _ := os.ReadFile(partial)
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("after %d kills the output differs:\n%s\nwant\n%s", kills, got, want.Bytes())
			}
			if res.Stats.Written != wantSt.Written || res.Stats.Lines != wantSt.Lines || res.Stats.Time != wantSt.Time {
				t.Errorf("stats after resumes %+v, uninterrupted %+v", res.Stats, wantSt)
			}
			os.Remove(partial)
			continue
		}
		if err != errStop {
			t.Fatal(err)
		}
		kills++
	}
	// The last kill is resumed to the end.
	res, err := File(partial, opt)
	if err != nil || !res.Resumed {
		t.Fatalf("resume: %v %+v", err, res)
	}
	got, _ := os.ReadFile(partial)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("output after the last resume differs:\n%s\nwant\n%s", got, want.Bytes())
	}
}

// TestScanQueue scans into a site's queue: the backlog appears only when complete, and
// a killed scan leaves no backlog.
func TestScanQueue(t *testing.T) {
	lab := startLab(t, innlab.TimeHash, 40)
	q := batch.Queue{Dir: t.TempDir(), Site: "peer"}
	opt := Options{History: lab.history(), Spool: lab.store, Key: "k"}
	o := opt
	o.CheckpointLines = 1
	defer func(n int) { chunkLines = n }(chunkLines)
	chunkLines = 5
	o.crash = func(line int64) bool { return line >= 20 }
	if _, err := Queue(q, "test", o); err != errStop {
		t.Fatalf("killed scan: %v", err)
	}
	if b, _ := q.Backlogs(); len(b) != 0 {
		t.Fatalf("a killed scan installed %v", b)
	}
	res, err := Queue(q, "test", opt)
	if err != nil || !res.Resumed || res.Backlog == "" {
		t.Fatalf("%v %+v", err, res)
	}
	var want bytes.Buffer
	if _, err := Scan(&want, opt); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(res.Backlog)
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("backlog differs from the scan")
	}
	if _, err := os.Stat(q.ScanPath()); !os.IsNotExist(err) {
		t.Errorf("partial output left: %v", err)
	}
	if _, err := os.Stat(CheckpointPath(q.ScanPath())); !os.IsNotExist(err) {
		t.Errorf("checkpoint left: %v", err)
	}
}

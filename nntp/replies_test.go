package nntp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"nxmit/nntp/nntptest"
)

// conn marks a code that ends the connection in the matrix.
const conn Outcome = 255

// matrixCodes are the replies the matrix tries at every stage, with who answers them:
// RFC 3977/4644 codes (innd, Diablo, nntp-rs), innd's 403 (INN issue #262) and "500
// What?" for streaming not allowed, nntp-rs read-only "500 Unknown command", 501 for a
// syntax error, 502 permission, 503 not supported, 436 to a TAKETHIS (innxmit's try
// later), 480 (innd to an unauthenticated TAKETHIS), 400 (innd throttled), and codes of
// the wrong command.
var matrixCodes = []int{235, 238, 239, 335, 400, 403, 431, 435, 436, 437, 438, 439, 480, 500, 501, 502, 503}

// matrixWant is the outcome each code must give at each stage: the table of
// docs/RELIABILITY.md, written out independently of ReplyTable. unexpected marks the
// codes in no row (Deferred, with a warning).
func matrixWant(stage nntptest.Stage, code int) (out Outcome, unexpected bool) {
	switch code {
	case 400, 480:
		return conn, false
	case 500, 501, 502, 503:
		if stage == nntptest.Check || stage == nntptest.IHave {
			return Refused, false
		}
		return Rejected, false
	}
	type k struct {
		s nntptest.Stage
		c int
	}
	known := map[k]Outcome{
		{nntptest.Check, 238}:        Accepted, // the article then goes by TAKETHIS
		{nntptest.Check, 431}:        Deferred,
		{nntptest.Check, 438}:        Refused,
		{nntptest.Takethis, 239}:     Accepted,
		{nntptest.Takethis, 439}:     Rejected,
		{nntptest.Takethis, 431}:     Deferred,
		{nntptest.Takethis, 436}:     Deferred,
		{nntptest.IHave, 335}:        Accepted,
		{nntptest.IHave, 435}:        Refused,
		{nntptest.IHave, 436}:        Deferred,
		{nntptest.IHaveArticle, 235}: Accepted,
		{nntptest.IHaveArticle, 436}: Deferred,
		{nntptest.IHaveArticle, 437}: Rejected,
	}
	if o, ok := known[k{stage, code}]; ok {
		return o, false
	}
	return Deferred, true
}

// offerCounter wraps a Decide function and counts, per message-id, the final answers
// the peer gave (any code but 238 and 335): an article answered twice was offered again
// after its answer.
type offerCounter struct {
	mu     sync.Mutex
	finals map[string]int
}

func (c *offerCounter) wrap(d func(nntptest.Stage, string) int) func(nntptest.Stage, string) int {
	return func(st nntptest.Stage, mid string) int {
		code := d(st, mid)
		eff := code
		if eff == 0 {
			eff = map[nntptest.Stage]int{nntptest.Check: 238, nntptest.Takethis: 239, nntptest.IHave: 335, nntptest.IHaveArticle: 235}[st]
		}
		if eff != 238 && eff != 335 {
			c.mu.Lock()
			c.finals[mid]++
			c.mu.Unlock()
		}
		return code
	}
}

func (c *offerCounter) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for mid, n := range c.finals {
		if n > 1 {
			t.Errorf("%s answered %d times: offered again after its answer", mid, n)
		}
	}
}

// matrixWay is one way of feeding: streaming with CHECK, TAKETHIS without CHECK, IHAVE.
type matrixWay struct {
	name   string
	mode   CheckMode
	ihave  bool
	stages []nntptest.Stage
}

var matrixWays = []matrixWay{
	{"streaming", AlwaysCheck, false, []nntptest.Stage{nntptest.Check, nntptest.Takethis}},
	{"no-CHECK", NeverCheck, false, []nntptest.Stage{nntptest.Takethis}},
	{"IHAVE", 0, true, []nntptest.Stage{nntptest.IHave, nntptest.IHaveArticle}},
}

// TestReplyMatrix answers every code at every stage of every way of feeding (streaming
// with CHECK, TAKETHIS without CHECK, IHAVE) to three articles of a hundred, and checks
// that each reply settles its own article only: the count invariant, no article answered
// twice, and the pass going on for everything but the connection codes.
func TestReplyMatrix(t *testing.T) {
	for _, w := range matrixWays {
		for _, stage := range w.stages {
			for _, code := range matrixCodes {
				want, unexpected := matrixWant(stage, code)
				t.Run(fmt.Sprintf("%s/%s/%d", w.name, stage, code), func(t *testing.T) {
					matrixCase(t, w, stage, code, nil, want, unexpected)
				})
			}
		}
	}
}

// matrixCase feeds a hundred articles one way; the peer answers code at stage to three
// of them (with the line text gives, when not nil, "{mid}" standing for the article's
// message-id), and the case checks the count invariant, that no article was answered
// twice, that those three have outcome want (conn: the connection ends with that code)
// and the others go on.
func matrixCase(t *testing.T, w matrixWay, stage nntptest.Stage, code int, text *string, want Outcome, unexpected bool) {
	const n = 100
	targets := []int{5, 50, 99}
	rules := map[int]int{}
	for _, i := range targets {
		rules[i] = code
	}
	cnt := &offerCounter{finals: map[string]int{}}
	sc := nntptest.Script{
		NoStream: w.ihave,
		Decide:   cnt.wrap(decideBy(map[nntptest.Stage]map[int]int{stage: rules})),
	}
	if text != nil {
		sc.Text = func(st nntptest.Stage, c int, mid string) string {
			if st != stage || c != code {
				return ""
			}
			return strings.ReplaceAll(*text, "{mid}", mid)
		}
	}
	srv := nntptest.NewServer(t, sc)
	f := newTestFeeder(t, n, 300)
	c := dial(t, srv, Config{})
	var st FeedStats
	var err error
	if w.ihave {
		c.ModeStream()
		st, err = c.IHave(context.Background(), f)
	} else {
		if ok, err := c.ModeStream(); !ok || err != nil {
			t.Fatalf("ModeStream = %v, %v", ok, err)
		}
		st, err = c.Stream(context.Background(), f, StreamConfig{Mode: w.mode, Window: 16})
	}
	out := f.check(st) // exactly once, and the counts add up
	cnt.check(t)
	checkReceived(t, f, srv, out)
	got := countOutcomes(out)
	if want == conn {
		if err == nil {
			t.Fatalf("%d did not end the connection: %v", code, got)
		}
		var ne *Error
		if !errors.As(err, &ne) || ne.Reply.Code != code {
			t.Errorf("error %v, want the %d", err, code)
		}
		if got[Unsent] == 0 || w.ihave && got[Accepted] != targets[0] {
			t.Errorf("outcomes %v: want the rest unsent (and with IHAVE the %d before it accepted)", got, targets[0])
		}
		return
	}
	if err != nil {
		t.Fatalf("the pass stopped: %v (%v)", err, got)
	}
	for _, i := range targets {
		r := f.results[int64(i)]
		if r.Outcome != want {
			t.Errorf("%s answered %d: %v, want %v", f.mids[i], code, r.Outcome, want)
		}
		if r.Unexpected != unexpected {
			t.Errorf("%s answered %d: Unexpected = %v, want %v", f.mids[i], code, r.Unexpected, unexpected)
		}
	}
	if want != Accepted && got[Accepted] != n-len(targets) {
		t.Errorf("outcomes %v: want the other %d accepted", got, n-len(targets))
	}
}

// surveyed are replies read in the sources of real servers (see docs/RELIABILITY.md,
// "Reply codes"), each written as the server writes it, "{mid}" standing for the
// article's message-id: with and without the id in the text.
var surveyed = []struct {
	source string
	stage  nntptest.Stage
	line   string
	want   Outcome
}{
	// nntp-rs (miquels/nntp-rs, src/nntp_recv.rs, src/commands.rs).
	{"nntp-rs", nntptest.Check, "238 {mid}", Accepted},
	{"nntp-rs", nntptest.Check, "431 {mid}", Deferred}, // the id is in progress
	{"nntp-rs", nntptest.Check, "438 {mid}", Refused},
	{"nntp-rs", nntptest.Check, "438 {mid} Bad Message-ID", Refused},
	{"nntp-rs", nntptest.Takethis, "239 {mid}", Accepted},
	{"nntp-rs", nntptest.Takethis, "439 {mid}", Rejected}, // also for what it would defer
	{"nntp-rs", nntptest.IHave, "435 {mid} Bad Message-ID", Refused},
	{"nntp-rs", nntptest.IHave, "435 Duplicate", Refused},
	{"nntp-rs", nntptest.IHave, "436 Retry later", Deferred},
	{"nntp-rs", nntptest.IHave, "335 Send article", Accepted},
	{"nntp-rs", nntptest.IHaveArticle, "235 {mid}", Accepted},
	{"nntp-rs", nntptest.IHaveArticle, "436 {mid}", Deferred},
	{"nntp-rs", nntptest.IHaveArticle, "437 {mid}", Rejected},
	{"nntp-rs", nntptest.Check, "500 Unknown command", Refused},
	{"nntp-rs", nntptest.Takethis, "500 Unknown command", Rejected},
	{"nntp-rs", nntptest.IHave, "500 Unknown command", Refused},
	{"nntp-rs", nntptest.Check, "501 Missing argument(s)", Refused},
	{"nntp-rs", nntptest.Takethis, "501 Missing argument(s)", Rejected},
	{"nntp-rs", nntptest.IHave, "501 Too many arguments", Refused},
	{"nntp-rs", nntptest.Check, "400 I/O error", conn},
	{"nntp-rs", nntptest.Takethis, "400 I/O error", conn},
	{"nntp-rs", nntptest.IHaveArticle, "400 I/O error", conn},
	// nntpchan/srndv2 (Go).
	{"srndv2", nntptest.Check, "431 {mid}", Deferred}, // to CHECK outside stream mode
	{"srndv2", nntptest.Check, "480 You have not authenticated", conn},
	// A Go NNTP server library.
	{"go-nntp", nntptest.Takethis, "503 TAKETHIS unimplemented", Rejected},
	{"go-nntp", nntptest.IHave, "503 IHAVE unimplemented", Refused},
	{"go-nntp", nntptest.Check, "480 Authentication required", conn},
	{"go-nntp", nntptest.Takethis, "480 Authentication required", conn},
	{"go-nntp", nntptest.IHave, "480 Authentication required", conn},
}

// TestReplySurveyed runs the matrix case of each surveyed reply, as written, in every
// way of feeding that has its stage.
func TestReplySurveyed(t *testing.T) {
	for _, r := range surveyed {
		code := 0
		fmt.Sscanf(r.line, "%d", &code)
		for _, w := range matrixWays {
			if !slices.Contains(w.stages, r.stage) {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s/%s/%s", r.source, w.name, r.stage, r.line), func(t *testing.T) {
				line := r.line
				matrixCase(t, w, r.stage, code, &line, r.want, false)
			})
		}
	}
}

// TestReplyRefusingPeer: a peer that answers 5xx to everything (nntp-rs read-only: "500
// Unknown command" to MODE STREAM and IHAVE; a peer answering 502 to every offer) stops
// the connection with RefusingError after RefuseRun answers, nothing settled; a peer
// that refuses a few articles of a short feed has them Deferred, not dropped; one that
// refuses the first article and takes the next has it Rejected.
func TestReplyRefusingPeer(t *testing.T) {
	all := func(code int) func(nntptest.Stage, string) int {
		return func(st nntptest.Stage, mid string) int {
			if st == nntptest.IHaveArticle {
				return 0
			}
			return code
		}
	}
	tests := []struct {
		name    string
		n       int
		ihave   bool
		mode    CheckMode
		decide  func(nntptest.Stage, string) int
		text    string // the reply line, for every code
		refused bool
		want    map[Outcome]int
	}{
		{name: "IHAVE 500 to everything", n: 50, ihave: true, decide: all(500), refused: true},
		{name: "CHECK 502 to everything", n: 50, mode: AlwaysCheck, decide: all(502), refused: true},
		{name: "TAKETHIS 502 to everything", n: 50, mode: NeverCheck, decide: all(502), refused: true},
		{name: "short feed all 503", n: 3, mode: NeverCheck, decide: all(503), want: map[Outcome]int{Deferred: 3}},
		// As written by a Go NNTP server library, and nntp-rs read-only.
		{name: "503 TAKETHIS unimplemented", n: 50, mode: NeverCheck, decide: all(503), text: "503 TAKETHIS unimplemented", refused: true},
		{name: "503 IHAVE unimplemented", n: 50, ihave: true, decide: all(503), text: "503 IHAVE unimplemented", refused: true},
		{name: "nntp-rs read-only", n: 50, ihave: true, decide: all(500), text: "500 Unknown command", refused: true},
		{name: "short IHAVE feed all 502", n: 3, ihave: true, decide: all(502), want: map[Outcome]int{Deferred: 3}},
		{name: "first refused then taken", n: 20, mode: NeverCheck,
			decide: decideBy(map[nntptest.Stage]map[int]int{nntptest.Takethis: {0: 503, 1: 503}}),
			want:   map[Outcome]int{Accepted: 18, Rejected: 2}},
		{name: "first IHAVE refused then taken", n: 20, ihave: true,
			decide: decideBy(map[nntptest.Stage]map[int]int{nntptest.IHave: {0: 502}}),
			want:   map[Outcome]int{Accepted: 19, Refused: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := nntptest.Script{NoStream: tt.ihave, Decide: tt.decide}
			if tt.text != "" {
				if tt.ihave {
					sc.ModeStreamReply = tt.text
				}
				sc.Text = func(nntptest.Stage, int, string) string { return tt.text }
			}
			srv := nntptest.NewServer(t, sc)
			f := newTestFeeder(t, tt.n, 300)
			c := dial(t, srv, Config{})
			var st FeedStats
			var err error
			if tt.ihave {
				c.ModeStream()
				st, err = c.IHave(context.Background(), f)
			} else {
				c.ModeStream()
				st, err = c.Stream(context.Background(), f, StreamConfig{Mode: tt.mode, Window: 16})
			}
			out := f.check(st)
			got := countOutcomes(out)
			if tt.refused {
				var re *RefusingError
				if !errors.As(err, &re) {
					t.Fatalf("error %v, want a RefusingError", err)
				}
				if isTemporary(err) {
					t.Error("RefusingError is temporary; a person must act")
				}
				if got[Unsent] != len(out) {
					t.Errorf("outcomes %v: want everything unsent (still queued)", got)
				}
				for _, r := range f.results {
					if !errors.As(r.Err, &re) {
						t.Fatalf("unsent result with error %v, want the RefusingError", r.Err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("outcomes %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSettleTable(t *testing.T) {
	// Every row of the table is consistent with the matrix's independent expectations.
	stage := map[Verb]nntptest.Stage{VerbCheck: nntptest.Check, VerbTakethis: nntptest.Takethis, VerbIHave: nntptest.IHave, VerbIHaveArticle: nntptest.IHaveArticle}
	for _, r := range ReplyTable {
		want, unexpected := matrixWant(stage[r.Verb], r.Code)
		if want == Accepted && (r.Code == 238 || r.Code == 335) {
			want = 0
		}
		if unexpected || want != r.Outcome {
			t.Errorf("row %v %d → %v; matrix says %v (unexpected %v)", r.Verb, r.Code, r.Outcome, want, unexpected)
		}
	}
	// A reply naming another article is about the connection, whatever its code.
	for _, code := range []int{238, 239, 431, 436, 500, 503} {
		_, err := Settle(VerbTakethis, "<a@x>", Reply{Code: code, Text: "<b@x> no"})
		var pe *ProtocolError
		if !errors.As(err, &pe) {
			t.Errorf("%d naming another id: %v, want a protocol error", code, err)
		}
	}
	// The streaming codes must name the article.
	if _, err := Settle(VerbCheck, "<a@x>", Reply{Code: 431, Text: "Retry later"}); err == nil {
		t.Error("431 without the message-id accepted")
	}
	// Other codes may leave it out (innd's "436 Retry later", "500 What?").
	if s, err := Settle(VerbTakethis, "<a@x>", Reply{Code: 436, Text: "Retry later"}); err != nil || s.Outcome != Deferred {
		t.Errorf("436 without id: %v %v", s, err)
	}
}

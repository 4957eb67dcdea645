package batch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// S.deferrals: each requeue adds one per line folded back, forgets the articles gone
// from the queue, keeps the ones still waiting in S.D.* or S.defer, and stops growing
// at MaxDeferralEntries; lines it cannot read are skipped.
func TestRequeueCountsDeferrals(t *testing.T) {
	q := mqQueue(t)
	old := time.Now().Add(-time.Hour)
	// Counted before: 1 (folded again now), 2 (in a backlog, unsent), 3 (delivered:
	// in no queue file), 4 (waiting in S.defer), 5 (waiting in a young S.D).
	os.WriteFile(q.DeferralsPath(), []byte(fmt.Sprintf("%s 2\n%s 1\n%s 4\n%s 1\n%s 3\njunk\n%s x\n",
		mqMid(1), mqMid(2), mqMid(3), mqMid(4), mqMid(5), mqMid(9))), 0o644)
	mqWrite(t, filepath.Join(q.Dir, q.Name(KindBacklog, old, false)), mqLine(2))
	mqDeferral(t, q, old, mqLine(1), mqLine(6), "")
	mqDeferral(t, q, time.Now(), mqLine(5))
	mqWrite(t, q.DeferPath(), mqLine(4))
	if _, err := q.Requeue(RequeueOptions{RetryDelay: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	d, err := q.ReadDeferrals()
	if err != nil {
		t.Fatal(err)
	}
	want := Deferrals{{mqMid(1), 3}, {mqMid(5), 3}, {mqMid(2), 1}, {mqMid(4), 1}, {mqMid(6), 1}}
	if fmt.Sprint(d) != fmt.Sprint(want) {
		t.Errorf("S.deferrals %v, want %v", d, want)
	}
	if r, h := d.Repeated(); r != 2 || h != 3 {
		t.Errorf("repeated %d highest %d, want 2 and 3", r, h)
	}
}

func TestRequeueDeferralsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 lines")
	}
	q := mqQueue(t)
	old := time.Now().Add(-time.Hour)
	var tally, backlog strings.Builder
	for i := 10; i < 10+MaxDeferralEntries; i++ {
		fmt.Fprintf(&tally, "%s 1\n", mqMid(i))
		backlog.WriteString(mqLine(i) + "\n")
	}
	os.WriteFile(q.DeferralsPath(), []byte(tally.String()), 0o644)
	os.WriteFile(filepath.Join(q.Dir, q.Name(KindBacklog, old, false)), []byte(backlog.String()), 0o644)
	mqDeferral(t, q, old, mqLine(10), mqLine(1))
	if _, err := q.Requeue(RequeueOptions{}); err != nil {
		t.Fatal(err)
	}
	d, err := q.ReadDeferrals()
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != MaxDeferralEntries || d[0] != (DeferralCount{mqMid(10), 2}) {
		t.Errorf("%d entries, first %v: want %d, %s counted 2", len(d), d[0], MaxDeferralEntries, mqMid(10))
	}
	for _, c := range d {
		if c.Key == mqMid(1) {
			t.Errorf("%s counted past the cap", c.Key)
		}
	}
}

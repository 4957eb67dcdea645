package nntp

import "time"

// The window of a streaming connection adapts to the path, as TCP's does to the
// network: a fixed window of W commands gives at most W per round trip, which over a
// 50 ms link is 2,560 commands a second for W = 128, far below what the peer takes;
// a large window on a fast local link only queues commands in the peer.
//
// The controller measures, once per round trip (a sample ends when the first command
// sent after it began is answered, and lasts at least minSample), the commands
// answered per second and the least round trip. It starts as TCP does: while the
// window is what holds the writer back and each sample's rate is a quarter above the
// last, it doubles the window every round trip (a sample's rate shows the window of the
// sample before); the first sample that gains less ends the start, one doubling back.
// From then on, while the window holds the writer back, it probes: it doubles the window and, two samples later (when the
// replies to the added commands are in), keeps it only if the rate rose by at least
// half as much; otherwise the path's bandwidth-delay product (plus what the peer
// queues) is reached, the window goes back and the next probe waits probeWait samples.
// So the window grows toward the bandwidth-delay product over a long path, and on a
// short one it grows only as far as larger batches pay, between the start (today's
// fixed 128 by default) and the cap that bounds memory (StreamConfig.Window). A peer
// that only queues more (innd busy on its disk) does not make it creep to its cap.
//
// A deferral storm (most answers of a sample 431) halves the window and caps it there;
// the cap relaxes by a quarter per calm sample. Connection failures (400, timeouts)
// end the Stream: the caller starts the next one from FeedStats.Window halved (see
// StreamConfig.Start).

const (
	// minWindow is the least a deferral storm shrinks the window to.
	minWindow = 8
	// rttEpoch is the samples per epoch of the round-trip minimum; the minimum is
	// that of the current and the previous epoch, so a path that became slower is
	// seen within 2 × rttEpoch round trips.
	rttEpoch = 4
	// probeWait is the samples after a failed growth before the next.
	probeWait = 8
	// minSample is the least time a sample covers: rates over less are noise.
	minSample = 10 * time.Millisecond
)

// windowCtl is the controller of one Stream. The reader feeds it replies; sample
// runs under the streamer's lock and sets the window the writer fills.
type windowCtl struct {
	fixed bool
	cap   int
	cur   int // the window: commands in flight allowed
	ceil  int // lowered by deferral storms
	peak  int // the largest window used

	// Reader only: the sample in progress.
	start      time.Duration // when it began (streamer clock)
	mark       uint64        // it ends once this command is answered
	answered   int
	deferred   int
	sampleMin  time.Duration // least round trip of the sample
	sampleRate float64       // highest delivery rate of the sample

	// Round-trip minimum over two epochs.
	rttMin, epochMin, prevMin time.Duration
	epochN                    int

	// Growth check.
	startup   bool    // doubling every round trip while the rate follows
	prevRate  float64 // the best rate during the start
	fails     int     // samples in a row the rate did not follow, during the start
	probeFrom int     // window before the growth; 0: none pending
	probeTo   int     // window after it
	probeRate float64 // rate before it
	probeAge  int     // samples since it
	hold      int     // samples to wait before growing again
	lastRate  float64
	trace     func(elapsed time.Duration, window int, rate float64, rttMin time.Duration)
}

// startRate is the commands per second the window is sized for at the start, from the
// round trip measured before the Stream: about what one connection to a local innd
// answers. A path of 200 ms then starts at 2,000 rather than at 128, which would take
// four doublings, 800 ms and more, to reach; a short path starts at 128 as before. A
// CHECK costs the peer a history lookup and us a line, so the first round trip of a
// window too wide costs nothing but replies waiting in the peer.
const startRate = 10_000

// startWindow is the default first window for a path whose round trip is rtt (0:
// unknown).
func startWindow(rtt time.Duration) int {
	return max(DefaultStartWindow, int(rtt.Seconds()*startRate))
}

func newWindowCtl(cfg *StreamConfig, rtt time.Duration) windowCtl {
	w := windowCtl{fixed: cfg.Fixed, cap: cfg.Window, trace: cfg.trace}
	start := cfg.Start
	if start <= 0 {
		start = startWindow(rtt)
	}
	w.cur = max(min(start, w.cap), min(minWindow, w.cap))
	if w.fixed {
		w.cur = w.cap
	}
	w.ceil = w.cap
	w.peak = w.cur
	w.startup = !w.fixed
	return w
}

// observe counts one reply and its round trip: head is the count of replies so far,
// this one included, and sentHead what it was when the command was sent.
func (w *windowCtl) observe(rtt time.Duration, head, sentHead uint64, out Outcome) {
	// The delivery rate over this command's round trip (as BBR measures it): the
	// replies that came while it was out, its own included, over the time it was out.
	// A command alone on the wire delivers one reply per round trip, not none.
	if rtt > 0 {
		w.sampleRate = max(w.sampleRate, float64(head-sentHead)/rtt.Seconds())
	}
	w.answered++
	if out == Deferred {
		w.deferred++
	}
	if w.sampleMin == 0 || rtt < w.sampleMin {
		w.sampleMin = rtt
	}
}

// sample ends the sample in progress if its round trip is over: head commands have
// been answered, tail published. limited says whether the writer waited for a free
// slot during the sample. It returns the window.
func (w *windowCtl) sample(now time.Duration, head, tail uint64, limited bool) (window int, restart bool) {
	if w.fixed || head < w.mark || w.answered == 0 {
		return w.cur, false
	}
	elapsed := now - w.start
	if elapsed < minSample {
		return w.cur, false // too short to tell a rate; wait for more replies
	}
	rate := w.sampleRate
	w.lastRate = rate
	w.updateRTT(w.sampleMin)

	switch {
	case w.answered >= 8 && 2*w.deferred > w.answered:
		// A deferral storm: the peer is short of something; send less.
		w.cur = max(minWindow, min(w.cur/2, w.cap))
		w.ceil = w.cur
		w.probeFrom, w.hold, w.startup = 0, probeWait, false
	case w.startup:
		if !limited {
			break // the rate says nothing of the window
		}
		switch {
		case rate >= 1.25*w.prevRate:
			w.prevRate, w.fails = rate, 0
			if w.cur >= min(w.ceil, w.cap) {
				w.startup = false
			}
			w.cur = min(2*w.cur, w.ceil, w.cap)
		case w.fails == 0:
			w.fails++ // a doubling whose replies this sample only partly saw: wait one
		default:
			// The rate stopped following the window: twice the bandwidth-delay
			// product at the best rate keeps the peer busy.
			w.startup = false
			w.cur = max(min(int(2*w.prevRate*w.rttMin.Seconds())+pullBatch, w.cur, w.ceil, w.cap), minWindow)
			w.hold = probeWait
		}
	case w.probeFrom > 0:
		w.probeAge++
		if w.probeAge < 2 {
			break
		}
		// Half the growth must show in the rate.
		gain := float64(w.probeTo)/float64(w.probeFrom) - 1
		if rate < w.probeRate*(1+gain/2) {
			// The added commands only queued in the peer.
			w.cur = w.probeFrom
			w.hold = probeWait
		}
		w.probeFrom = 0
	case w.hold > 0:
		w.hold--
	case limited && w.cur < min(w.ceil, w.cap):
		w.probeFrom, w.probeRate, w.probeAge = w.cur, rate, 0
		w.cur = min(2*w.cur, w.ceil, w.cap)
		w.probeTo = w.cur
	}
	if w.ceil < w.cap && 2*w.deferred <= w.answered {
		w.ceil = min(w.cap, w.ceil+w.ceil/4+1)
	}
	w.peak = max(w.peak, w.cur)
	if w.trace != nil {
		w.trace(now, w.cur, rate, w.rttMin)
	}
	w.start, w.mark = now, tail+1
	w.answered, w.deferred, w.sampleMin, w.sampleRate = 0, 0, 0, 0
	return w.cur, true
}

func (w *windowCtl) updateRTT(rtt time.Duration) {
	if rtt <= 0 {
		return
	}
	if w.epochMin == 0 || rtt < w.epochMin {
		w.epochMin = rtt
	}
	w.epochN++
	if w.epochN >= rttEpoch {
		w.prevMin, w.epochMin, w.epochN = w.epochMin, 0, 0
	}
	w.rttMin = w.prevMin
	if w.rttMin == 0 || w.epochMin != 0 && w.epochMin < w.rttMin {
		w.rttMin = w.epochMin
	}
}

package congestion_test

import (
	"math"
	"testing"
	"time"

	"github.com/udtgo/udt/internal/congestion/sim"
)

func TestTmpConverge(t *testing.T) {
	for _, wake := range []time.Duration{0, 4 * time.Millisecond} {
		for seed := uint64(1); seed <= 8; seed++ {
			s := sim.New(sim.Path{Mbps: 100, RTT: 100 * time.Millisecond, Wakeup: wake}, seed)
			a := s.AddFlow(sim.FlowConfig{New: bbrIn(s)})
			b := s.AddFlow(sim.FlowConfig{New: bbrIn(s), Start: 5 * time.Second, ISN: 0x7FFFFF00})
			s.Run(95 * time.Second)
			const w = 5 * time.Second
			converged := time.Duration(-1)
			for t0 := 5 * time.Second; t0+w <= 95*time.Second; t0 += time.Second {
				x, y := a.Mbps(t0, t0+w), b.Mbps(t0, t0+w)
				if math.Abs(x-y) <= 0.2*max(x, y) {
					if converged < 0 {
						converged = t0 + w - 5*time.Second
					}
				} else {
					converged = -1
				}
			}
			x, y := a.Mbps(75*time.Second, 95*time.Second), b.Mbps(75*time.Second, 95*time.Second)
			// the lab's metric: 1 s bins, 3 s trailing mean, 60 s run
			lab := -1
			for k := 59; k >= 6; k-- {
				ma := a.Mbps(time.Duration(k-2)*time.Second, time.Duration(k+1)*time.Second)
				mb := b.Mbps(time.Duration(k-2)*time.Second, time.Duration(k+1)*time.Second)
				if min(ma, mb) < 0.8*max(ma, mb) {
					break
				}
				lab = k + 1 - 5
			}
			t.Logf("wake %v seed %d: converged %v (lab metric %d s); last 20 s %.1f %.1f", wake, seed, converged, lab, x, y)
		}
	}
}

package replicationtest

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// HeapNow is the live heap after a collection: what a synthetic server
// holds before the code under benchmark runs.
func HeapNow() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// SamplePeakHeap samples the heap (objects, garbage not yet collected
// included) every millisecond until the returned function is called,
// which gives the peak seen. In-process, the heap also holds the
// synthetic server's pre-rendered answers: peak minus HeapNow before the
// run is the share of the code under benchmark.
func SamplePeakHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak.Load()
	}
}

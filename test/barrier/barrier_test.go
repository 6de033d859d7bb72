package barrier

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBarrierLetsTheGroupThroughTogether(t *testing.T) {
	b := New(3)
	var wg sync.WaitGroup
	got := make([]bool, 3)
	for i := range got {
		wg.Go(func() { got[i] = b.Wait("caller") })
	}
	wg.Wait()
	assert.Equal(t, []bool{true, true, true}, got)
	assert.Len(t, b.Arrived(), 3)
}

func TestBarrierGivesUpOnACallerAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out Bound")
	}
	b := New(2)
	assert.False(t, b.Wait("alone"), "one caller of two never gets through")
	assert.Equal(t, []string{"alone"}, b.Arrived())
}

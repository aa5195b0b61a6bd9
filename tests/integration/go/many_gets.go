// many_gets: N goroutines GET one URL at once while other goroutines burn CPU and allocate, so
// that the Go runtime preempts them (SIGURG) and its garbage collector stops the world: what a
// Go tool does inside a sandbox while its connects wait for a decision.
// Usage: many_gets URL N. Prints "ok=K failed=M" (and the first error).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	url := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Println("bad N:", err)
		os.Exit(2)
	}
	stop := make(chan struct{})
	var sink [4]int
	for i := 0; i < 4; i++ {
		go func(i int) {
			for {
				select {
				case <-stop:
					return
				default:
				}
				buf := make([]byte, 1<<20)
				for j := range buf {
					sink[i] += int(buf[j]) + j
				}
			}
		}(i)
	}
	client := &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, failed := 0, 0
	var first error
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(url)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else {
				failed++
				if first == nil {
					first = err
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	fmt.Printf("ok=%d failed=%d", ok, failed)
	if first != nil {
		fmt.Printf(" first=%v", first)
	}
	fmt.Println()
}

package proctest

import (
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestPostmasters_ForkedChildIsNotAServer: a process named postgres whose
// command line names the directory counts once, even while it has a
// forked child that still carries the same command line (as a backend
// does before it sets its title).
func TestPostmasters_ForkedChildIsNotAServer(t *testing.T) {
	dir := t.TempDir()
	// exec -a names the shell "postgres"; each ( …; : ) is a fork of it
	// that stays a shell (the ": " keeps bash from exec'ing sleep in its
	// place), so it keeps the same command line, as a just-forked backend
	// does.
	cmd := exec.Command("bash", "-c", `exec -a postgres bash -c '(sleep 30; :) & (sleep 30; :) & wait' x `+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range Children(cmd.Process.Pid) {
			for _, g := range Children(c) {
				_ = exec.Command("kill", "-9", itoa(g)).Run()
			}
			_ = exec.Command("kill", "-9", itoa(c)).Run()
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	deadline := time.Now().Add(5 * time.Second)
	for len(Children(cmd.Process.Pid)) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the forked children did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := Postmasters(t, dir); len(got) != 1 || got[0] != cmd.Process.Pid {
		t.Errorf("Postmasters = %v, want only %d", got, cmd.Process.Pid)
	}
	if uid := UID(t, cmd.Process.Pid); uid < 0 {
		t.Errorf("UID = %d", uid)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

package embeddedpg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// account is the unprivileged user the server runs as when this process
// runs as root (PostgreSQL refuses root).
type account struct {
	name     string
	uid, gid uint32
	groups   []uint32
}

// serverAccount returns who runs the server: nil, meaning this process's
// own user, unless that is root. As root it is the owner of an existing
// server folder when that is not root (someone ran the app as themselves,
// then with sudo), else the postgres system user, else nobody.
func serverAccount(root string) (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if fi, err := os.Stat(root); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			if u, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10)); err == nil {
				return newAccount(u)
			}
			return &account{name: strconv.FormatUint(uint64(st.Uid), 10), uid: st.Uid, gid: st.Gid}, nil
		}
	}
	for _, name := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			return newAccount(u)
		}
	}
	return nil, errors.New("DATABASE_URL is not set, and the private PostgreSQL cannot run: PostgreSQL refuses to run as root and there is no postgres or nobody user to run it as; run as another user, or set DATABASE_URL")
}

func newAccount(u *user.User) (*account, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", u.Username, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", u.Username, err)
	}
	a := &account{name: u.Username, uid: uint32(uid), gid: uint32(gid)}
	ids, _ := u.GroupIds()
	for _, id := range ids {
		if g, err := strconv.ParseUint(id, 10, 32); err == nil {
			a.groups = append(a.groups, uint32(g))
		}
	}
	return a, nil
}

// command returns a command running as a (as this process's user when a
// is nil) with a small, fixed environment (PGDATA, PGPORT and the like
// must not reach pg_ctl), in a process group of its own so that a Ctrl-C
// meant for the app does not cut it off half-way.
func (a *account) command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, env...)
	attr := &syscall.SysProcAttr{Setpgid: true}
	if a != nil {
		attr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}
	}
	cmd.SysProcAttr = attr
	return cmd
}

// prepareRoot creates DATA_DIR and the server folder in it. As root, it
// makes sure the server's user can reach the folder and owns it.
func prepareRoot(l layout, a *account) error {
	dataDir := filepath.Dir(l.root)
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("create DATA_DIR %s: %w", dataDir, err)
	}
	for _, d := range []string{l.root, l.log} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	if a == nil {
		return nil
	}
	if err := a.reach(dataDir); err != nil {
		return err
	}
	return a.own(l.root)
}

// reach makes sure a may pass through every folder above the server
// folder. DATA_DIR is ours, so it gets search (not list) permission for
// others when it lacks it; a folder above it is left alone and named in
// the error.
func (a *account) reach(dataDir string) error {
	for dir := dataDir; ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("DATA_DIR: %w", err)
		}
		if !a.canSearch(fi) {
			if dir != dataDir {
				return fmt.Errorf("DATABASE_URL is not set, and the private PostgreSQL cannot run in %s: PostgreSQL refuses to run as root, so it runs as user %s, who may not enter %s. Let others pass through it (chmod o+x %s), set DATA_DIR to a folder elsewhere, or set DATABASE_URL",
					dataDir, a.name, dir, dir)
			}
			if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("let user %s reach DATA_DIR %s: %w", a.name, dir, err)
			}
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}

// canSearch reports whether a may pass through the folder fi (its mode
// bits; ACLs are not consulted).
func (a *account) canSearch(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	mode := fi.Mode().Perm()
	switch {
	case st.Uid == a.uid:
		return mode&0o100 != 0
	case st.Gid == a.gid || slices.Contains(a.groups, st.Gid):
		return mode&0o010 != 0
	}
	return mode&0o001 != 0
}

// own hands the server folder to a, once: when it was just created, or
// was left by another user.
func (a *account) own(root string) error {
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == a.uid {
		return nil
	}
	return filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, int(a.uid), int(a.gid)); err != nil {
			return fmt.Errorf("hand %s to user %s: %w", path, a.name, err)
		}
		return nil
	})
}

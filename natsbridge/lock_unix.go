//go:build unix

package natsbridge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFile is the name of the lock in an embedded server's store directory.
const lockFile = "fxbus-natsbridge.lock"

// dirLock holds an exclusive flock on a store directory. The kernel drops it
// when the process ends, so a crash leaves no stale lock.
type dirLock struct{ f *os.File }

// lockDir takes the lock of dir, which must exist, and writes the process ID
// in it so that the error of a second taker can name the holder.
func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("natsbridge: store dir %q is not writable (%w): set Config.Embedded.StoreDir to a directory this process may write", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %q is in use by pid %s: give each process its own Config.Embedded.StoreDir, or connect this one to the other's server with Config.URLs",
				ErrStoreLocked, dir, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("natsbridge: lock store dir %q: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

// unlock releases the lock; closing the file drops the flock.
func (l *dirLock) unlock() error { return l.f.Close() }

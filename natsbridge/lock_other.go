//go:build !unix

package natsbridge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// lockFile is the name of the lock in an embedded server's store directory.
const lockFile = "fxbus-natsbridge.lock"

// dirLock is a lock file created exclusively. Unlike the flock of Unix
// systems it outlives a crash: remove the file by hand after one.
type dirLock struct{ path string }

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		holder, _ := os.ReadFile(path)
		return nil, fmt.Errorf("%w: %q is in use by pid %s (or the lock file %q was left by a crash): give each process its own Config.Embedded.StoreDir",
			ErrStoreLocked, dir, holder, path)
	}
	if err != nil {
		return nil, fmt.Errorf("natsbridge: store dir %q is not writable (%w): set Config.Embedded.StoreDir to a directory this process may write", dir, err)
	}
	_, _ = f.WriteString(strconv.Itoa(os.Getpid()))
	_ = f.Close()
	return &dirLock{path: path}, nil
}

func (l *dirLock) unlock() error { return os.Remove(l.path) }

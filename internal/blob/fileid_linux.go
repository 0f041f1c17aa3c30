package blob

import (
	"io/fs"
	"syscall"
	"time"
)

// identify returns what identifies a file's version: device, inode, size,
// modification and change times. Every write through the file system moves the
// change time (ctime), which no user call can set back.
func identify(info fs.FileInfo) (fileID, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{
		dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size,
		mtime: time.Unix(st.Mtim.Unix()).UnixNano(),
		ctime: time.Unix(st.Ctim.Unix()).UnixNano(),
	}, true
}

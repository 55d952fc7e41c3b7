//go:build !unix

package fsperm

import "io/fs"

// ownerOf reports no owner where files have no user id (Windows keeps
// owners in access control lists, and a profile folder under the user's
// own AppData inherits that user's ACL).
func ownerOf(fs.FileInfo) (uid int, ok bool) { return 0, false }

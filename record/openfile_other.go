//go:build !unix

package record

import "os"

// openFlags: other systems have no O_NOFOLLOW or O_NONBLOCK; the type
// check after opening still refuses anything but a regular file.
const openFlags = os.O_RDONLY

// Package state stores a deployment's state in the state directory (./.dualpeer by default):
// JSON documents written atomically (temp file, fsync, rename, fsync of the directory) inside an
// envelope with a format version and a SHA-256 checksum, so a truncated or corrupt file is
// detected and reported instead of silently overwritten; and an exclusive lock (flock) so two
// dualpeer processes never change one deployment at the same time.
package state

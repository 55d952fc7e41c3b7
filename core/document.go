package core

import "kmcr/internal/storeddoc"

// ErrBadDocument is returned when a stored document cannot be read.
var ErrBadDocument = storeddoc.ErrBad

// Package onerule holds the test that every place comparing names and
// postcodes applies the one rule of package record (record.FoldName,
// record.NormalisePostcode): the record's search keys, the demographics
// merge the importer reports, and the client cache's search index. It has
// no code of its own.
package onerule

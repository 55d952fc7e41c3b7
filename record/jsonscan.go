package record

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// This file holds a small JSON scanner. It exists for three reasons that
// encoding/json cannot serve: it reports nesting depth before anything is
// decoded (so a 100,000-level document is refused without recursion); it
// returns byte offsets, so a resource's Raw is the exact slice of the input;
// and it walks a bundle's entries without decoding the resources themselves,
// which keeps ParseBundle on the hot path cheap.

// jsonError is a syntax error at a byte offset of the scanned input.
type jsonError struct {
	off int
	msg string
}

// Error returns the message with its byte offset.
func (e *jsonError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// scanValue validates the JSON value that starts at data[i] (after optional
// white space) and returns the offset just past it and the deepest nesting
// of objects and arrays inside it (0 for a scalar, 1 for a flat object).
// It never recurses: its stack is one byte per open container, so memory is
// bounded by the input, whatever the depth.
func scanValue(data []byte, i int) (end, depth int, err error) {
	var local [64]byte
	stack := local[:0]
	i = skipSpace(data, i)
outer:
	for {
		// A value starts at i.
		if i >= len(data) {
			return i, depth, &jsonError{i, "unexpected end of JSON"}
		}
		switch c := data[i]; {
		case c == '{' || c == '[':
			stack = append(stack, c)
			if len(stack) > depth {
				depth = len(stack)
			}
			i = skipSpace(data, i+1)
			if i < len(data) && data[i] == c+2 { // '}' is '{'+2, ']' is '['+2
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if i, err = scanKey(data, i); err != nil {
					return i, depth, err
				}
			}
			continue outer
		case c == '"':
			if i, err = scanString(data, i); err != nil {
				return i, depth, err
			}
		case c == 't':
			if i, err = scanLiteral(data, i, "true"); err != nil {
				return i, depth, err
			}
		case c == 'f':
			if i, err = scanLiteral(data, i, "false"); err != nil {
				return i, depth, err
			}
		case c == 'n':
			if i, err = scanLiteral(data, i, "null"); err != nil {
				return i, depth, err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if i, err = scanNumber(data, i); err != nil {
				return i, depth, err
			}
		default:
			return i, depth, &jsonError{i, "unexpected character"}
		}
		// A value ended at i: close containers until one wants another value.
		for {
			if len(stack) == 0 {
				return i, depth, nil
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return i, depth, &jsonError{i, "unexpected end of JSON"}
			}
			top := stack[len(stack)-1]
			switch data[i] {
			case ',':
				i = skipSpace(data, i+1)
				if top == '{' {
					if i, err = scanKey(data, i); err != nil {
						return i, depth, err
					}
				}
				continue outer
			case top + 2:
				stack = stack[:len(stack)-1]
				i++
			default:
				return i, depth, &jsonError{i, "unexpected character after a value"}
			}
		}
	}
}

// scanKey reads `"key" :` and returns the offset after the colon and any
// white space following it.
func scanKey(data []byte, i int) (int, error) {
	if i >= len(data) || data[i] != '"' {
		return i, &jsonError{i, "expected a string as object key"}
	}
	i, err := scanString(data, i)
	if err != nil {
		return i, err
	}
	i = skipSpace(data, i)
	if i >= len(data) || data[i] != ':' {
		return i, &jsonError{i, "expected ':' after object key"}
	}
	return skipSpace(data, i+1), nil
}

// plainString marks the bytes a string may hold with no further thought:
// everything but the quote, the backslash and control characters.
var plainString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString validates the string starting at the quote data[i].
func scanString(data []byte, i int) (int, error) {
	start := i
	i++
	for i < len(data) {
		for i < len(data) && plainString[data[i]] {
			i++
		}
		if i >= len(data) {
			break
		}
		switch c := data[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(data) {
				return i, &jsonError{i, "unexpected end of JSON in string escape"}
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) {
					return i, &jsonError{i, "unexpected end of JSON in \\u escape"}
				}
				for _, h := range data[i+2 : i+6] {
					if !isHex(h) {
						return i, &jsonError{i, "invalid \\u escape"}
					}
				}
				i += 6
			default:
				return i, &jsonError{i, "invalid escape"}
			}
		default:
			return i, &jsonError{i, "control character in string"}
		}
	}
	return i, &jsonError{start, "unterminated string"}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func scanLiteral(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, &jsonError{i, "invalid literal"}
	}
	return i + len(lit), nil
}

// scanNumber validates a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(data []byte, i int) (int, error) {
	start := i
	if data[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(data) && data[i] == '0' {
		i++
	} else if digits() == 0 {
		return i, &jsonError{start, "invalid number"}
	}
	if i < len(data) && data[i] == '.' {
		i++
		if digits() == 0 {
			return i, &jsonError{start, "invalid number"}
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, &jsonError{start, "invalid number"}
		}
	}
	return i, nil
}

// checkDocument validates that data holds exactly one JSON value with only
// white space around it, and returns the value's span and depth.
func checkDocument(data []byte) (start, end, depth int, err error) {
	start = skipSpace(data, 0)
	if start == len(data) {
		return start, start, 0, &jsonError{start, "empty input"}
	}
	end, depth, err = scanValue(data, start)
	if err != nil {
		return start, end, depth, err
	}
	if rest := skipSpace(data, end); rest != len(data) {
		return start, end, depth, &jsonError{rest, "unexpected data after the JSON value"}
	}
	return start, end, depth, nil
}

// The helpers below walk values that scanValue has already accepted. They
// stay bounds-checked so that a caller's mistake cannot make them panic.

// structural marks the bytes that matter when skipping a container.
var structural = func() (t [256]bool) {
	for _, c := range `"{}[]` {
		t[c] = true
	}
	return t
}()

// skipValid returns the offset just past the valid JSON value at data[i].
func skipValid(data []byte, i int) int {
	i = skipSpace(data, i)
	if i >= len(data) {
		return i
	}
	switch data[i] {
	case '"':
		return skipValidString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			c := data[i]
			if !structural[c] {
				i++
				continue
			}
			switch c {
			case '"':
				i = skipValidString(data, i)
				continue
			case '{', '[':
				depth++
			default: // '}' or ']'
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(data) {
			switch data[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

func skipValidString(data []byte, i int) int {
	i++
	for i < len(data) {
		// Strings are most of a resource's bytes; IndexByte finds the next
		// quote at memchr speed.
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return len(data)
		}
		i += j
		// The quote ends the string unless an odd number of backslashes
		// escape it.
		k := i - 1
		for k >= 0 && data[k] == '\\' {
			k--
		}
		if (i-1-k)%2 == 0 {
			return i + 1
		}
		i++
	}
	return len(data)
}

// eachMember calls fn with the raw key (without quotes, escapes intact) and
// raw value of every member of the object in obj, stopping when fn returns
// false. It does nothing if obj is not an object.
func eachMember(obj []byte, fn func(key, val []byte) bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return
		}
		kend := skipValidString(obj, i)
		key := obj[i+1 : max(i+1, kend-1)]
		i = skipSpace(obj, kend)
		if i >= len(obj) || obj[i] != ':' {
			return
		}
		vstart := skipSpace(obj, i+1)
		vend := skipValid(obj, vstart)
		if !fn(key, obj[vstart:vend]) {
			return
		}
		i = skipSpace(obj, vend)
		if i >= len(obj) || obj[i] != ',' {
			return
		}
		i++
	}
}

// eachElement calls fn with each element of the array in arr, with its
// index, stopping when fn returns false. It does nothing if arr is not an
// array.
func eachElement(arr []byte, fn func(n int, val []byte) bool) {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return
	}
	i++
	for n := 0; ; n++ {
		i = skipSpace(arr, i)
		if i >= len(arr) || arr[i] == ']' {
			return
		}
		end := skipValid(arr, i)
		if !fn(n, arr[i:end]) {
			return
		}
		i = skipSpace(arr, end)
		if i >= len(arr) || arr[i] != ',' {
			return
		}
		i++
	}
}

// keyIs reports whether a raw key from eachMember names s.
func keyIs(key []byte, s string) bool {
	if len(key) == len(s) {
		return string(key) == s
	}
	// Only an escaped key can differ in length and still be equal.
	for _, c := range key {
		if c == '\\' {
			return unquoteRaw(key) == s
		}
	}
	return false
}

// stringOf returns the string held by a raw JSON value, and false if the
// value is not a string.
func stringOf(val []byte) (string, bool) {
	if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
		return "", false
	}
	return unquoteRaw(val[1 : len(val)-1]), true
}

// unquoteRaw decodes the inside of a JSON string. Escapes are rare in FHIR
// identifiers, so only those strings pay for encoding/json.
func unquoteRaw(inner []byte) string {
	for _, c := range inner {
		if c == '\\' {
			quoted := make([]byte, 0, len(inner)+2)
			quoted = append(append(append(quoted, '"'), inner...), '"')
			var s string
			if json.Unmarshal(quoted, &s) != nil {
				return string(inner)
			}
			return s
		}
	}
	return string(inner)
}

// eachReference calls fn with every string value of a member named
// "reference", at any depth, in document order. data must be valid JSON.
// This finds every link a resource makes without knowing its type.
func eachReference(data []byte, fn func(ref string)) {
	pending := false // the previous token was the key "reference" and its colon
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == '"':
			end := skipValidString(data, i)
			j := skipSpace(data, end)
			isKey := j < len(data) && data[j] == ':'
			switch {
			case isKey:
				pending = keyIs(data[i+1:max(i+1, end-1)], "reference")
				i = j + 1
				continue
			case pending:
				if s, ok := stringOf(data[i:end]); ok && s != "" {
					fn(s)
				}
			}
			pending = false
			i = end
			continue
		case isSpace(c) || c == ',':
		default:
			pending = false
		}
		i++
	}
}

//go:build !linux

package mailer

import "net"

// unacked cannot be told here: -1 (see unacked_linux.go).
func unacked(net.Conn) int { return -1 }

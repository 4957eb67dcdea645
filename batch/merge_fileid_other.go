//go:build !unix

package batch

import "os"

func fileIDOf(info os.FileInfo) fileID { return fileID{Size: info.Size()} }

func lockInputFile(f *os.File) (busy bool, err error) { return false, nil }

// Package batch handles the queue files of a site in INN's outgoing
// directory: parsing batch lines, naming and listing backlogs and deferral
// files, creating them atomically, the per-site locks, and reading a backlog
// while recording which lines are done.
//
// # Files of a site S
//
//	S                 live feed file written by innd (Tf,Wnm)
//	S.rotating        hard link of S during rotation
//	S.B.<hex>[.zst]   backlog, <hex> = 8 lowercase hex digits of Unix seconds
//	S.B.<hex>.zst.done  checkpoint of a compressed backlog (see Backlog)
//	S.defer           deferrals of the send pass in progress
//	S.D.<hex>         closed deferral file
//	S.send.lock       lock of the consumer (send)
//	S.queue.lock      lock of the queue writers (rotate, requeue, merge)
//	*.tmp             a file being written; never read as a queue file
//
// New names are made atomically: the data goes to NAME.tmp, which is
// fsynced, renamed without replacing anything (renameat2 RENAME_NOREPLACE,
// or link and unlink), and the directory is fsynced. A name already taken
// moves on to the next second.
//
// # Lines
//
// A line is "token message-id" (innd's Wnm), a token alone, or a path to an
// article file, optionally followed by a Message-ID; see ParseLine for the
// exact rules, which are innxmit's. A processed line is blanked in place
// with spaces of the same length, so blank lines are skipped silently.
// Malformed lines are reported as *LineError ("FILE:LINE: reason") and
// skipped. Lines are read with a bounded buffer: a line longer than
// MaxLineLen is skipped to its newline without being held in memory.
//
// # Completion of compressed backlogs
//
// A compressed backlog cannot be blanked; its progress goes to a checkpoint
// file rewritten atomically by Backlog.Sync, holding a line number below
// which every line is done except a short list of holes (the lines in flight
// or left undone). Memory and checkpoint size follow the number of lines in
// flight, not the size of the file; a crash re-offers at most the lines
// completed since the last Sync. The details are on Backlog.
//
// # Locks
//
// Locks are flock(2) locks taken without waiting; the holder writes its pid,
// command, start time and host into the lock file (see Holder), so a
// *LockedError, whose Temporary method reports true, can name it.
package batch

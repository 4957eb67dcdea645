package commands

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"nxmit/batch"
	"nxmit/config"
	"nxmit/linefilter"
	"nxmit/spoolfmt"
	"nxmit/wildmat"
)

// FilterCmd filters batch lines for shell pipelines.
type FilterCmd struct {
	Files        []string  `arg:"" optional:"" name:"file" help:"Input files (default: stdin; - is stdin)."`
	Dedupe       bool      `short:"u" help:"Write each article once (by Message-ID; about 30 bytes of memory per distinct line)."`
	Exists       bool      `short:"e" help:"Keep only articles present in the spool."`
	Groups       string    `short:"g" help:"Keep only articles whose Newsgroups match this INN wildmat, as a newsfeeds pattern: commas, ! negates, @ refuses the article if any group matches." placeholder:"WILDMAT"`
	MinSize      byteCount `help:"Keep only articles of at least this size in wire format (suffixes k, M, G)." placeholder:"SIZE"`
	MaxSize      byteCount `help:"Keep only articles of at most this size in wire format (suffixes k, M, G)." placeholder:"SIZE"`
	MaxAge       ageLimit  `help:"Keep only articles that arrived at most this long ago: spool arrival time where the storage method has it, else the Date header (e.g. 36h, 7d, 2w; a plain number is seconds)." placeholder:"AGE"`
	MinAge       ageLimit  `help:"Hold back articles that arrived less than this long ago (a delayed feed; age as --max-age; an unknown age passes)." placeholder:"AGE"`
	Hash         string    `help:"Keep articles whose Message-ID falls in these buckets, Diablo's hashfeed: K/N, A-B/N, with :M (or _M) for byte offset M of the MD5; a comma-separated list matches any (e.g. 1/3, 2-3/4:4)." placeholder:"K/N[:M]"`
	MaxCrosspost int       `help:"Drop articles posted to more than N groups (as newsfeeds' G flag)." placeholder:"N"`
	MaxHops      int       `help:"Drop articles with more than N entries in their Path header (as newsfeeds' H flag)." placeholder:"N"`
	Invert       bool      `help:"Write the lines that fail the tests (--exists, --groups, sizes, ages, --hash, --max-crosspost, --max-hops) instead."`
	Stats        bool      `help:"Print the counts on stderr at the end."`
	Workers      int       `help:"Articles read at once for the spool tests (default: 4 per CPU, at most 32)." placeholder:"N" hidden:""`
}

// Help is shown under the subcommand's usage.
func (c *FilterCmd) Help() string {
	return fmt.Sprintf(`Reads batch lines (a token and Message-ID, a token, or an article path per line; plain,
zstd or gzip) from the files or stdin, and writes the lines that pass every test given
to stdout, in input order. Without tests it drops blank lines and normalizes nothing
else. Malformed lines never reach stdout: they are reported on stderr as FILE:LINE:
reason. Articles are read from INN's spool (inn.conf's patharticles) only for the
tests that need them. --groups uses INN's wildmat with newsfeeds(5) semantics: an
article passes when one of its groups matches and none matches an @ pattern. Sizes are
of the article as sent (wire format). An article whose age cannot be told fails
--max-age. A missing article fails every spool test.

Feed shaping: --hash K/N keeps the Message-IDs in bucket K of N, the definition of
Diablo's hashfeed and INN's newsfeeds Q flag (MD5 of the Message-ID as written, the
big-endian 32 bits at byte offset M counted from the end, bucket = value mod N + 1), so
N servers taking 1/N ... N/N of one feed each get a disjoint part and together all of
it; lines without a Message-ID read it from the spool. --max-crosspost and --max-hops
read the Newsgroups and Path headers; --min-age holds back what arrived too recently.

The input is streamed; only --dedupe keeps state, at most %d bytes per distinct line.
--stats prints the counts on stderr at the end.

Example, resending what is left of an old feed file:

  nxmit filter --exists --groups 'comp.*,!comp.binaries.*' --dedupe < peer.old | nxmit merge peer -

Exit status: 0 done (malformed lines only reported), 1 an input or article could not be
read (the output lacks those lines), 2 usage.`, batch.IDSetBytesPerLine)
}

// Run filters.
func (c *FilterCmd) Run(g *Globals) error {
	opt := linefilter.Options{
		Dedupe:       c.Dedupe,
		Exists:       c.Exists,
		MinSize:      int64(c.MinSize),
		MaxSize:      int64(c.MaxSize),
		MaxAge:       time.Duration(c.MaxAge),
		MinAge:       time.Duration(c.MinAge),
		MaxCrosspost: c.MaxCrosspost,
		MaxHops:      c.MaxHops,
		Invert:       c.Invert,
		Workers:      c.Workers,
		Warn:         func(err error) { fmt.Fprintf(os.Stderr, "nxmit: filter: %v\n", err) },
	}
	if c.Groups != "" {
		e, err := wildmat.CompilePoison(c.Groups)
		if err != nil {
			return usagef("--groups: %v", err)
		}
		opt.Groups = e
	}
	if c.Hash != "" {
		h, err := linefilter.ParseHashFeed(c.Hash)
		if err != nil {
			return usagef("--hash: %v", err)
		}
		opt.Hash = h
	}
	if c.MaxCrosspost < 0 || c.MaxHops < 0 {
		return usagef("--max-crosspost and --max-hops take a positive number")
	}
	if c.MaxSize > 0 && c.MinSize > c.MaxSize {
		return usagef("--min-size %d is above --max-size %d", c.MinSize, c.MaxSize)
	}
	spoolTests := opt.Exists || opt.Groups != nil || opt.MinSize > 0 || opt.MaxSize > 0 || opt.MaxAge > 0 ||
		opt.MinAge > 0 || opt.MaxCrosspost > 0 || opt.MaxHops > 0
	if c.Invert && !spoolTests && opt.Hash == nil {
		return usagef("--invert needs a test to invert (--exists, --groups, sizes, ages, --hash, --max-crosspost or --max-hops)")
	}
	files := c.Files
	if len(files) == 0 {
		files = []string{"-"}
	}
	// Root's named inputs are opened as root, one by one so that a file that cannot be
	// opened is reported in its turn below; then the spool is read as INN's user.
	opened := map[string]*os.File{}
	openErr := map[string]error{}
	if g.DropRoot && os.Geteuid() == 0 {
		for _, name := range files {
			if f, err := g.openNamed([]string{name}); err != nil {
				openErr[name] = err
			} else {
				opened[name] = f[name]
			}
		}
	}
	if err := g.dropRoot(); err != nil {
		return err
	}
	if !spoolTests && opt.Hash != nil {
		// Only lines without a Message-ID need the spool for --hash: use it if there is one.
		if conf, err := g.InnConf(); err == nil {
			if store, err := spoolfmt.OpenStore(conf); err == nil {
				defer store.Close()
				opt.Spool = store
			}
		}
	}
	if spoolTests {
		conf, err := g.InnConf()
		if err != nil {
			return fmt.Errorf("the spool tests need inn.conf: %w", err)
		}
		store, err := spoolfmt.OpenStore(conf)
		if err != nil {
			return err
		}
		defer store.Close()
		opt.Spool = store
	}
	flt, err := linefilter.New(opt)
	if err != nil {
		return usagef("%v", err)
	}

	failed := false
	for _, name := range files {
		var r io.Reader = os.Stdin
		label := "stdin"
		if name != "-" {
			f, err := opened[name], openErr[name]
			if f == nil && err == nil {
				f, err = os.Open(name)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "nxmit: filter: %v\n", err)
				failed = true
				continue
			}
			r, label = f, name
			defer f.Close()
		}
		if err := flt.Filter(os.Stdout, r, label); err != nil {
			var we *linefilter.WriteError
			if errors.As(err, &we) {
				return err // stdout is gone: nothing more can be written
			}
			fmt.Fprintf(os.Stderr, "nxmit: filter: %v\n", err)
			failed = true
		}
	}
	st := flt.Stats()
	if c.Stats || g.Verbose {
		fmt.Fprintf(os.Stderr, "filter: %s\n", st)
	}
	if st.Errors > 0 {
		fmt.Fprintf(os.Stderr, "nxmit: filter: %d article(s) could not be read; their lines were not written\n", st.Errors)
		failed = true
	}
	if failed {
		return ExitStatus(ExitError)
	}
	return nil
}

// byteCount is a size on the command line: bytes, or with a k, M or G suffix (powers of
// 1024, either case).
type byteCount int64

// UnmarshalText parses the size.
func (b *byteCount) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return fmt.Errorf("bad size %q (want a number of bytes, with an optional k, M or G suffix)", text)
	}
	*b = byteCount(v * mult)
	return nil
}

// ageLimit is a duration on the command line, in config.ParseDuration's syntax, the
// same as every other duration: 90m, 36h, 7d, 1.5d, 2w, or seconds.
type ageLimit time.Duration

// UnmarshalText parses the age.
func (a *ageLimit) UnmarshalText(text []byte) error {
	d, err := config.ParseDuration(strings.TrimSpace(string(text)))
	if err != nil {
		return err
	}
	*a = ageLimit(d)
	return nil
}

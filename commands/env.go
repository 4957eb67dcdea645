package commands

import (
	"fmt"
	"os"
	"sync"

	"nxmit/batch"
	"nxmit/config"
	"nxmit/logging"
	"nxmit/spoolfmt"
)

// loaded keeps what the Globals read or open once per process (run touches every site
// from its goroutines): inn.conf, nxmit.conf and the statistics logger. Each is keyed
// by what it was made from, so that a Globals whose flags change (tests) reads again.
type loaded struct {
	mu sync.Mutex

	innConfPath string
	innConf     *spoolfmt.InnConf

	siteConfPath string
	siteConf     *config.Config

	loggerKey string
	logger    *logging.Logger
}

// AfterApply is kong's hook, run once the command line is parsed and before the
// command runs: the one point where the Globals are initialised.
func (g *Globals) AfterApply() error {
	g.init()
	return nil
}

// init gives g its cache of loaded files. Kong calls it (AfterApply); a Globals built
// by hand, in tests, gets it on first use, before any goroutine shares it.
func (g *Globals) init() *loaded {
	if g.loaded == nil {
		g.loaded = new(loaded)
	}
	return g.loaded
}

// InnConf returns INN's configuration, from --innconf, $INNCONF or the default location.
func (g *Globals) InnConf() (*spoolfmt.InnConf, error) {
	path := g.InnConfFile
	if path == "" {
		path = spoolfmt.InnConfPath()
	}
	c := g.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.innConf != nil && c.innConfPath == path {
		return c.innConf, nil
	}
	conf, err := spoolfmt.LoadInnConf(path)
	if err != nil {
		return nil, err
	}
	c.innConfPath, c.innConf = path, conf
	return conf, nil
}

// OutgoingDir returns the directory of the sites' queue files: --outgoing, else inn.conf's
// pathoutgoing.
func (g *Globals) OutgoingDir() (string, error) {
	if g.Outgoing != "" {
		return g.Outgoing, nil
	}
	conf, err := g.InnConf()
	if err != nil {
		return "", fmt.Errorf("outgoing directory: %w (give INN's inn.conf with --innconf or $INNCONF, or the directory with --outgoing)", err)
	}
	return conf.PathOutgoing, nil
}

// Queue returns the queue files of site.
func (g *Globals) Queue(site string) (batch.Queue, error) {
	if err := batch.SiteNameError(site); err != nil {
		return batch.Queue{}, usagef("%v", err)
	}
	dir, err := g.OutgoingDir()
	if err != nil {
		return batch.Queue{}, err
	}
	if fi, err := os.Stat(dir); err != nil {
		return batch.Queue{}, fmt.Errorf("outgoing directory: %w", err)
	} else if !fi.IsDir() {
		return batch.Queue{}, fmt.Errorf("outgoing directory %s: not a directory", dir)
	}
	return batch.Queue{Dir: dir, Site: site}, nil
}

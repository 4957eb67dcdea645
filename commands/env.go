package commands

import (
	"fmt"
	"os"
	"sync"

	"nxmit/batch"
	"nxmit/spoolfmt"
)

// innConfCache keeps inn.conf read once per process: run touches every site.
var innConfCache struct {
	sync.Mutex
	path string
	conf *spoolfmt.InnConf
}

// InnConf returns INN's configuration, from --innconf, $INNCONF or the default location.
func (g *Globals) InnConf() (*spoolfmt.InnConf, error) {
	path := g.InnConfFile
	if path == "" {
		path = spoolfmt.InnConfPath()
	}
	innConfCache.Lock()
	defer innConfCache.Unlock()
	if innConfCache.conf != nil && innConfCache.path == path {
		return innConfCache.conf, nil
	}
	conf, err := spoolfmt.LoadInnConf(path)
	if err != nil {
		return nil, err
	}
	innConfCache.path, innConfCache.conf = path, conf
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
		return "", fmt.Errorf("outgoing directory: %w (or give --outgoing)", err)
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

// Package config reads nxmit's site configuration file, nxmit.conf, and INN's
// passwd.nntp.
//
// # Location
//
// The file is PATHETC/nxmit.conf, where PATHETC is inn.conf's pathetc (/etc/news on
// Debian). The environment variable NXMIT_CONFIG or the command-line flag --config name
// another file. A missing default file means "no sites configured"; a missing file named
// explicitly is an error.
//
// # Syntax
//
// The syntax is that of INN's own configuration files (inn.conf, innfeed.conf): one
// "key: value" parameter a line (or several separated by ';'), '#' comments to the end
// of the line, values containing spaces or any of `#;{}"` in double quotes with C-style
// backslash escapes. Parameters at the top of the file are global; a "defaults" block
// holds settings for every site; one "site NAME" block per site overrides them:
//
//	# /etc/news/nxmit.conf
//	max-connections: 16     # run: connections to all peers together
//	max-time:        50m    # run: the whole pass ends within this
//
//	defaults {
//	    connections: 4
//	    window:      128
//	    compress:    yes
//	}
//
//	site hub {
//	    host:        news.hub.example   # default: the site name
//	    port:        119
//	    connections: 8
//	    user:        feeder             # AUTHINFO; default: passwd.nntp
//	    password:    "s3cret; really"
//	}
//
//	site leaf {
//	    host:      leaf.example
//	    streaming: no                   # IHAVE only
//	}
//
// Key names are case-sensitive and lower case. A key given twice in the same block, an
// unknown key, a site declared twice or an invalid value is an error; every error names
// the file and the line ("nxmit.conf:12: port: 70000 is out of range (1 to 65535)").
//
// # Value types
//
//   - integers: decimal digits;
//   - durations: Go syntax ("90s", "10m", "1h30m") or plain seconds as in INN ("600");
//   - sizes: bytes with an optional k, m or g suffix (powers of 1024, as shrinkfile);
//   - booleans: true/yes/on or false/no/off, as in inn.conf.
//
// # Global parameters
//
//	max-connections  run: the cap on connections to all peers together (default 16)
//	max-time         run: bound on the whole run (default none)
//	passwd           the passwd.nntp file for AUTHINFO (default PATHETC/passwd.nntp)
//	log-ident        syslog ident of the statistics (default innxmit, which innreport counts)
//	log-file         append statistics to this file instead of syslog
//	flush            how rotation makes innd flush a feed: ctlinnd (default) or icc
//	ctlinnd          the ctlinnd program (default PATHBIN/ctlinnd)
//	flush-timeout    how long to wait for innd's answer to a flush (default 30s)
//
// # Site parameters (in "defaults" or "site NAME")
//
//	host             peer host name or address, or several separated by spaces or commas,
//	                 tried in order (default: the site name)
//	port             NNTP port (default 119; 563 with tls)
//	connections      parallel connections a pass starts with (default 4)
//	max-site-connections  most connections a pass grows to while the peer keeps up (default 8)
//	window           most commands in flight per streaming connection (default 2048); the
//	                 window adapts below it to the round trip and the peer's rate
//	fixed-window     keep the window at "window" throughout, as before (default no)
//	check            adaptive, always or never: CHECK before TAKETHIS (default adaptive)
//	streaming        try MODE STREAM (default yes); "no" feeds with IHAVE
//	connect-timeout  time to connect and read the greeting (default 30s)
//	reply-timeout    time to wait for any reply (default 2m)
//	user, password   AUTHINFO USER/PASS (default: passwd.nntp's entry for each host)
//	max-time         a send pass stops offering after this long (default none)
//	max-articles     a send pass stops after this many articles (default none)
//	compress         write new backlogs zstd-compressed (default no)
//	rotate-min-size  rotate the feed file once it is this big (default 10m)
//	rotate-max-age   ... or once it is this old (default 4m; both 0: whenever not empty)
//	retry-delay      deferred articles wait this long before they are requeued (default 10m)
//	delay            a delayed feed: articles younger than this stay queued (default 0)
//	hashfeed         send only these Diablo hashfeed buckets, e.g. 1/3 (default: all)
//	max-crosspost    do not send articles posted to more groups (default 0: no limit)
//	max-hops         do not send articles with more Path entries (default 0: no limit)
//	max-size         do not send larger articles, wire bytes (default 0: no limit)
//	tls              implicit TLS (NNTPS) from the first byte (default no)
//	starttls         yes, optional or no: STARTTLS after the greeting (RFC 4642; default no)
//	tls-ca           PEM file of the authorities to trust (default: the system's)
//	tls-server-name  name the peer's certificate must carry (default: the host)
//	tls-cert         PEM client certificate; tls-key its key
//	tls-verify       verify the peer's certificate (default yes; "no" warns every pass)
//	bind-address     source address: an IPv4 address, an IPv6 address, or one of each
//	family           any, ipv4 or ipv6: which of the peer's addresses are dialed (default any)
//	max-rate         bytes per second of the site's connections together (default none)
//	alert-after      a pass failing the same way as the last one is logged but quiet on
//	                 stderr until the failure has lasted this long (default 1h; 0: always speak)
//	hold             yes: do not send to this site (rotate and requeue go on); as 'nxmit hold'
//
// Precedence, highest first: the command line, the site block, the defaults block, the
// built-in default.
package config

package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveMetrics serves Prometheus metrics on [metrics] listen until ctx ends. The values
// are read at scrape time from the same counters status shows, so there is one truth.
func (d *Daemon) serveMetrics(ctx context.Context) error {
	addr := d.cfg.Metrics.Listen
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return &ConfigError{File: d.cfg.file, Line: keyLine(d.cfg.doc, "metrics.listen"), Key: "metrics.listen",
			Problem: fmt.Sprintf("%v: choose a free address such as \"127.0.0.1:9733\", or \"\" for no metrics", err)}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{d: d})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	d.log.Info("metrics endpoint ready", "listen", l.Addr().String())
	return nil
}

// metricsExposed is the warning that [metrics] listen is reachable from other hosts (every
// interface, or an address other than loopback), or nil: the endpoint has no
// authentication, and it shows the log paths, the sources' errors and the outbox.
func (c *Config) metricsExposed() *ConfigError {
	l := c.Metrics.Listen
	host, _, err := net.SplitHostPort(l)
	if l == "" || err != nil || host == "localhost" {
		return nil
	}
	where := "every interface"
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return nil
	} else if host != "" && (err != nil || !a.IsUnspecified()) {
		where = host + ", not loopback"
	}
	return &ConfigError{File: c.file, Line: keyLine(c.doc, "metrics.listen"), Key: "metrics.listen",
		Problem: fmt.Sprintf("%q listens on %s: anyone who reaches the port reads the metrics (no authentication), the log paths and the outbox included", l, where),
		Hint:    "listen on 127.0.0.1:9733 and scrape from this host or through a proxy that authenticates, or firewall the port"}
}

var (
	descLines           = prometheus.NewDesc("abusewatch_source_lines_read_total", "Log lines read, by outcome: each line is counted once (stale: a syslog message an attack rule recognised, dated with its year more than policy.max_age before it arrived, which makes no event; duplicate: a line an attack rule recognised whose record another source carried first, which makes no second event).", []string{"outcome"}, nil)
	descSourceRead      = prometheus.NewDesc("abusewatch_source_read_bytes", "Committed read position of each source file, in bytes (the journal's position is a cursor, syslog has none).", []string{"source"}, nil)
	descSourceLag       = prometheus.NewDesc("abusewatch_source_lag_bytes", "Bytes behind the end of each source file.", []string{"source"}, nil)
	descSourceDiscarded = prometheus.NewDesc("abusewatch_source_discarded_total", "Messages and connections a syslog listener discarded, and journal entries refused (from neither root nor a configured unit, or by a process that is not the program it names), by reason (a listener's are counted in its errors too); reason duplicate: records an attack rule recognised that another source carried first, counted once (as lines_read_total{outcome=duplicate} counts them).", []string{"source", "reason"}, nil)
	descSourceLines     = prometheus.NewDesc("abusewatch_source_lines_total", "Lines read from each source.", []string{"source"}, nil)
	descSourceErrors    = prometheus.NewDesc("abusewatch_source_errors_total", "Read errors of each source.", []string{"source"}, nil)
	descSourceRotations = prometheus.NewDesc("abusewatch_source_rotations_total", "Rotations seen on each source.", []string{"source"}, nil)
	descEvents          = prometheus.NewDesc("abusewatch_events_total", "Events stored, by class; class unknown is the unknown lines with an address in a trusted position, which abusewatch_source_lines_read_total counts as outcome unknown, not event.", []string{"class"}, nil)
	descIncidents       = prometheus.NewDesc("abusewatch_incident_updates_total", "Incidents created or grown.", nil, nil)
	descReports         = prometheus.NewDesc("abusewatch_reports_written_total", "Reports written to the outbox.", nil, nil)
	descDelivered       = prometheus.NewDesc("abusewatch_reports_delivered_total", "Reports delivered.", nil, nil)
	descOutbox          = prometheus.NewDesc("abusewatch_outbox_reports", "Reports in the outbox, by state.", []string{"state"}, nil)
	descLookups         = prometheus.NewDesc("abusewatch_lookups_total", "Abuse contacts the outbox asked for, each time it asked, by result, however answered (the [[contact]] table, the cache or a registry; abusewatch_rdap_requests_total counts the registry's requests): found, not-found (no one named: the registry's answer names no one, or no registry is asked), failed (no registry answered: a timeout, a server's error, a rate limit), do-not-contact.", []string{"result"}, nil)
	descRDAPRequests    = prometheus.NewDesc("abusewatch_rdap_requests_total", "HTTP requests sent to RDAP servers (referrals included).", nil, nil)
	descRDAPLimited     = prometheus.NewDesc("abusewatch_rdap_rate_limited_total", "RDAP answers that asked abusewatch to slow down (HTTP 429).", nil, nil)
	descLookupCacheHits = prometheus.NewDesc("abusewatch_lookup_cache_hits_total", "Registry answers taken from the lookup cache instead of asking again.", nil, nil)
	descLookupSecs      = prometheus.NewDesc("abusewatch_lookup_seconds_total", "Time spent in abuse-contact lookups.", nil, nil)
	descStoreBytes      = prometheus.NewDesc("abusewatch_store_bytes", "Size of the state database.", nil, nil)
	descStoreRefusing   = prometheus.NewDesc("abusewatch_store_commit_refused", "1 while the store refuses to commit what was read (a full disk): reading waits, the commit is retried.", nil, nil)
	descStoreRefused    = prometheus.NewDesc("abusewatch_store_commits_refused_total", "Commits of what was read that the store refused (each retry counts).", nil, nil)
	descCaughtUp        = prometheus.NewDesc("abusewatch_events_caught_up_total", "Events committed but not correlated (a stop between a batch's commit and its incidents, a correlation the store refused), correlated later: at start, or once the store took the incidents.", nil, nil)
	descLogs            = prometheus.NewDesc("abusewatch_log_messages_total", "Warnings and errors logged.", []string{"level"}, nil)
	descUp              = prometheus.NewDesc("abusewatch_start_time_seconds", "When the daemon started (Unix time).", nil, nil)
	descRoundRunning    = prometheus.NewDesc("abusewatch_outbox_round_running_seconds", "How long the running round of the outbox (lookups, reports, deliveries) has run; 0 between rounds.", nil, nil)
	descRoundLast       = prometheus.NewDesc("abusewatch_outbox_round_last_seconds", "How long the last finished round of the outbox took.", nil, nil)
)

// collector turns the daemon's status into metrics at scrape time.
type collector struct{ d *Daemon }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLines, descSourceRead, descSourceLag, descSourceDiscarded, descSourceLines, descSourceErrors, descSourceRotations, descEvents, descIncidents, descReports,
		descDelivered, descOutbox, descLookups, descLookupSecs, descRDAPRequests, descRDAPLimited, descLookupCacheHits, descStoreBytes, descStoreRefusing, descStoreRefused, descCaughtUp, descLogs, descUp, descRoundRunning, descRoundLast} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st, counters := c.d.status(), c.d.current.Load().Counters
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	for _, o := range []string{"event", "normal", "unknown", "unparsed", "continuation", "stale", "duplicate"} {
		key := o
		switch o {
		case "event":
			key = "events"
		case "continuation":
			key = "continued"
		}
		counter(descLines, float64(st.Counters[key]), o)
	}
	for _, s := range st.Sources {
		if strings.HasPrefix(s.Source, "/") { // a file: the journal's Offset is a sequence number
			gauge(descSourceRead, float64(s.Offset), s.Source)
			gauge(descSourceLag, float64(s.Lag), s.Source)
		}
		counter(descSourceLines, float64(s.Lines), s.Source)
		counter(descSourceErrors, float64(s.Errors), s.Source)
		counter(descSourceRotations, float64(s.Rotations), s.Source)
		if s.Source == syslogSource {
			for reason, n := range map[string]int64{"refused": s.Refused, "over_limit": s.OverLimit, "cut": s.Cut, "kernel_drop": s.Dropped} {
				counter(descSourceDiscarded, float64(n), s.Source, reason)
			}
		}
		if s.Source == journalSource {
			counter(descSourceDiscarded, float64(s.Refused), s.Source, "refused")
		}
		// Every source's, 0 too: an alert on the first duplicate needs the series.
		counter(descSourceDiscarded, float64(s.Duplicates), s.Source, "duplicate")
	}
	for class, n := range counters.ByClass() {
		counter(descEvents, float64(n), string(class))
	}
	counter(descIncidents, float64(counters.Incidents.Load()))
	counter(descReports, float64(counters.Reports.Load()))
	counter(descDelivered, float64(counters.Delivered.Load()))
	// Every state, 0 too: a series that vanished when its last report left it, or that
	// appears only with the first failure, is one an alert rule cannot watch.
	for _, state := range abusewatch.ReportStates {
		gauge(descOutbox, float64(st.Store.Outbox[state]), string(state))
	}
	for result, n := range counters.lookupResults() {
		counter(descLookups, float64(n), result)
	}
	counter(descLookupSecs, counters.LookupSeconds.Load())
	finder := c.d.current.Load().finder.Counters
	counter(descRDAPRequests, float64(finder.RDAPRequests.Load()))
	counter(descRDAPLimited, float64(finder.RateLimited.Load()))
	counter(descLookupCacheHits, float64(finder.CacheHits.Load()))
	gauge(descStoreBytes, float64(st.Store.SizeBytes))
	refusing := 0.0
	if st.StoreRefuses != nil {
		refusing = 1
	}
	gauge(descStoreRefusing, refusing)
	counter(descStoreRefused, float64(c.d.commitsRefused.Load()))
	counter(descCaughtUp, float64(counters.CaughtUp.Load()))
	// Both levels from the start, 0 too: an alert on the first error needs the series.
	logged := c.d.errors.counts()
	for _, level := range []slog.Level{slog.LevelWarn, slog.LevelError} {
		counter(descLogs, float64(logged[level.String()]), level.String())
	}
	gauge(descUp, float64(st.Started.Unix()))
	running := 0.0
	if st.Outbox.Running {
		running = time.Since(st.Outbox.Started).Seconds()
	}
	gauge(descRoundRunning, running)
	gauge(descRoundLast, st.Outbox.LastSeconds)
}

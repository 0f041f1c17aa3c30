package web

import (
	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
)

func auditRecord(e *store.AuditEvent) audit.Record { return audit.NewRecord(e) }

// Chart is the overview's bar chart, laid out for an inline SVG (numbers
// only: the template writes them into attributes, so no style is inline).
type Chart struct {
	Width, Height int
	Max           int
	Bars          []Bar
}

// Bar is one bucket: a served bar with a blocked bar stacked on it.
type Bar struct {
	X, W               int
	ServedY, ServedH   int
	BlockedY, BlockedH int
	OtherY, OtherH     int
	Label              string // shown under some bars
	Title              string // the tooltip: the numbers
}

const chartHeight = 160

func chartOf(o *Overview) Chart {
	c := Chart{Width: 760, Height: chartHeight + 20}
	for _, b := range o.Buckets {
		c.Max = max(c.Max, b.Served+b.Blocked+b.Other)
	}
	n := len(o.Buckets)
	if n == 0 {
		return c
	}
	slot := c.Width / n
	scale := func(v int) int {
		if c.Max == 0 || v == 0 {
			return 0
		}
		return max(1, v*chartHeight/c.Max)
	}
	every := max(1, n/8)
	for i, b := range o.Buckets {
		bar := Bar{X: i*slot + 1, W: max(1, slot-2)}
		bar.ServedH, bar.BlockedH, bar.OtherH = scale(b.Served), scale(b.Blocked), scale(b.Other)
		bar.ServedY = chartHeight - bar.ServedH
		bar.BlockedY = bar.ServedY - bar.BlockedH
		bar.OtherY = bar.BlockedY - bar.OtherH
		layout := "15:04"
		if o.Step >= 24*60*60*1e9 {
			layout = "01-02"
		}
		if i%every == 0 {
			bar.Label = b.Start.UTC().Format(layout)
		}
		bar.Title = b.Start.UTC().Format("2006-01-02 15:04Z") + ": " + itoa(b.Served) + " served, " + itoa(b.Blocked) + " blocked, " + itoa(b.Other) + " other"
		c.Bars = append(c.Bars, bar)
	}
	return c
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

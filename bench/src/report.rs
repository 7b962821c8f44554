//! The comparison: a table for people (workload | Consort | Synapse | ratio) and one JSON line
//! for machines, both from the same figures.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::workloads::{Outcome, Params, Results};

/// One table cell.
enum Cell {
    /// A figure; ratios are taken between two of these.
    Number(f64),
    /// Counts or a description.
    Text(String),
    /// The workload did not run on this target.
    Failed,
    /// The target was not part of this run.
    Absent,
}

impl Cell {
    fn render(&self) -> String {
        match self {
            Cell::Number(v) if *v >= 100.0 => format!("{v:.0}"),
            Cell::Number(v) => format!("{v:.1}"),
            Cell::Text(t) => t.clone(),
            Cell::Failed => "failed".to_owned(),
            Cell::Absent => "-".to_owned(),
        }
    }
}

/// A row: its label, the name of its ratio in the JSON line (if it has one) and how to read it.
struct Row {
    label: String,
    ratio_key: Option<&'static str>,
    cell: fn(&Results) -> Cell,
}

fn rows(params: &Params) -> Vec<Row> {
    fn figure<T>(outcome: &Outcome<T>, figure: impl Fn(&T) -> Option<f64>) -> Cell {
        match outcome.done() {
            Some(t) => figure(t).map_or(Cell::Text("no samples".into()), Cell::Number),
            None => Cell::Failed,
        }
    }
    vec![
        Row {
            label: format!("(a) send latency p50 (ms), {} sequential", params.messages),
            ratio_key: Some("send_p50"),
            cell: |r| figure(&r.send_latency, |s| s.latency.as_ref().map(|l| l.p50_ms)),
        },
        Row {
            label: "(a) send latency p99 (ms)".into(),
            ratio_key: Some("send_p99"),
            cell: |r| figure(&r.send_latency, |s| s.latency.as_ref().map(|l| l.p99_ms)),
        },
        Row {
            label: "(a) ok / errors".into(),
            ratio_key: None,
            cell: |r| match r.send_latency.done() {
                Some(s) => Cell::Text(format!("{} / {}", s.ok, s.errors.total())),
                None => Cell::Failed,
            },
        },
        Row {
            label: format!(
                "(b) throughput (msgs/s), {} senders, {} s",
                params.senders, params.seconds
            ),
            ratio_key: Some("throughput"),
            cell: |r| figure(&r.throughput, |t| Some(t.msgs_per_s)),
        },
        Row {
            label: "(b) ok / errors".into(),
            ratio_key: None,
            cell: |r| match r.throughput.done() {
                Some(t) => Cell::Text(format!("{} / {}", t.ok, t.errors.total())),
                None => Cell::Failed,
            },
        },
        Row {
            label: format!(
                "(c) delivery latency p50 (ms), {}",
                params.delivery_messages
            ),
            ratio_key: Some("delivery_p50"),
            cell: |r| figure(&r.delivery, |d| d.latency.as_ref().map(|l| l.p50_ms)),
        },
        Row {
            label: "(c) delivery latency p99 (ms)".into(),
            ratio_key: Some("delivery_p99"),
            cell: |r| figure(&r.delivery, |d| d.latency.as_ref().map(|l| l.p99_ms)),
        },
        Row {
            label: "(c) delivered / lost / errors".into(),
            ratio_key: None,
            cell: |r| match r.delivery.done() {
                Some(d) => Cell::Text(format!(
                    "{} / {} / {}",
                    d.delivered,
                    d.lost,
                    d.errors.total()
                )),
                None => Cell::Failed,
            },
        },
        Row {
            label: format!(
                "(d) upload (MiB/s), {} files of {} MiB",
                params.media_files, params.media_mib
            ),
            ratio_key: Some("upload_mib_s"),
            cell: |r| figure(&r.media, |m| Some(m.upload_mib_per_s)),
        },
        Row {
            label: "(d) download time to first byte p50 (ms)".into(),
            ratio_key: Some("media_ttfb_p50"),
            cell: |r| figure(&r.media, |m| m.ttfb.as_ref().map(|l| l.p50_ms)),
        },
        Row {
            label: "(d) whole download p50 (ms)".into(),
            ratio_key: Some("media_download_p50"),
            cell: |r| figure(&r.media, |m| m.download.as_ref().map(|l| l.p50_ms)),
        },
        Row {
            label: "(d) uploader -> downloader".into(),
            ratio_key: None,
            cell: |r| match r.media.done() {
                Some(m) if m.cross_node => {
                    Cell::Text(format!("two nodes, {} errors", m.errors.total()))
                }
                Some(m) => Cell::Text(format!("one node, {} errors", m.errors.total())),
                None => Cell::Failed,
            },
        },
        Row {
            label: format!(
                "(e) sliding sync, first {} of {} rooms p50 (ms)",
                20, params.sliding_rooms
            ),
            ratio_key: Some("sliding_first_p50"),
            cell: |r| figure(&r.sliding, |s| s.first.as_ref().map(|l| l.p50_ms)),
        },
        Row {
            label: format!(
                "(e) sliding sync, update after a message p50 (ms), {}",
                params.sliding_updates
            ),
            ratio_key: Some("sliding_update_p50"),
            cell: |r| figure(&r.sliding, |s| s.update.as_ref().map(|l| l.p50_ms)),
        },
        Row {
            label: format!(
                "(f) saturation (msgs/s), {} senders in a room each",
                params.spread_senders
            ),
            ratio_key: Some("spread_throughput"),
            cell: |r| figure(&r.spread, |s| Some(s.msgs_per_s)),
        },
        Row {
            label: "(f) request latency p50 (ms)".into(),
            ratio_key: Some("spread_p50"),
            cell: |r| figure(&r.spread, |s| s.latency.as_ref().map(|l| l.p50_ms)),
        },
        Row {
            label: "(f) ok / errors".into(),
            ratio_key: None,
            cell: |r| match r.spread.done() {
                Some(s) => Cell::Text(format!("{} / {}", s.ok, s.errors.total())),
                None => Cell::Failed,
            },
        },
        Row {
            label: format!("(g) send p50 (ms) at {} msgs/s offered", params.paced_rate),
            ratio_key: Some("paced_p50"),
            cell: |r| figure(&r.paced, |p| p.latency.as_ref().map(|l| l.p50_ms)),
        },
        Row {
            label: "(g) send p99 (ms)".into(),
            ratio_key: Some("paced_p99"),
            cell: |r| figure(&r.paced, |p| p.latency.as_ref().map(|l| l.p99_ms)),
        },
        Row {
            label: "(g) offered / errors".into(),
            ratio_key: None,
            cell: |r| match r.paced.done() {
                Some(p) => Cell::Text(format!("{} / {}", p.offered, p.errors.total())),
                None => Cell::Failed,
            },
        },
        Row {
            label: format!("(h) initial /sync, {} rooms, p50 (ms)", params.sync_rooms),
            ratio_key: Some("initial_sync_p50"),
            cell: |r| figure(&r.initial_sync, |s| s.latency.as_ref().map(|l| l.p50_ms)),
        },
        Row {
            label: "(i) stored bytes per 1 KiB message (largest node)".into(),
            ratio_key: Some("bytes_per_message"),
            cell: |r| figure(&r.storage, |s| s.bytes_per_message),
        },
        Row {
            label: "resident memory, largest node (MiB)".into(),
            ratio_key: Some("rss_max_mib"),
            cell: |r| {
                r.memory
                    .iter()
                    .map(|m| m.rss_mib)
                    .reduce(f64::max)
                    .map_or(Cell::Absent, Cell::Number)
            },
        },
        Row {
            label: "resident memory, each node (MiB)".into(),
            ratio_key: None,
            cell: |r| {
                Cell::Text(
                    r.memory
                        .iter()
                        .map(|m| format!("{} {:.0}", m.name, m.rss_mib))
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            },
        },
        Row {
            label: "(c) sender -> receiver".into(),
            ratio_key: None,
            cell: |r| match r.delivery.done() {
                Some(d) if d.cross_node => Cell::Text("two nodes".into()),
                Some(_) => Cell::Text("one node".into()),
                None => Cell::Failed,
            },
        },
    ]
}

fn cell(results: Option<&Results>, row: &Row) -> Cell {
    results.map_or(Cell::Absent, row.cell)
}

fn ratio(consort: &Cell, synapse: &Cell) -> Option<f64> {
    match (consort, synapse) {
        (Cell::Number(c), Cell::Number(s)) if *s > 0.0 => Some(c / s),
        _ => None,
    }
}

/// The table: one row per figure, a column per server, and Consort ÷ Synapse where both have
/// the figure; the reasons of failed workloads follow it.
pub fn table(params: &Params, consort: Option<&Results>, synapse: Option<&Results>) -> String {
    let mut lines = vec![[
        "workload".to_owned(),
        "Consort".to_owned(),
        "Synapse".to_owned(),
        "ratio C/S".to_owned(),
    ]];
    for row in rows(params) {
        let (c, s) = (cell(consort, &row), cell(synapse, &row));
        let r = row
            .ratio_key
            .and_then(|_| ratio(&c, &s))
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
        lines.push([row.label.clone(), c.render(), s.render(), r]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (n, line) in lines.iter().enumerate() {
        let padded: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (text, w))| {
                if i == 0 {
                    format!("{text:<w$}")
                } else {
                    format!("{text:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", padded.join(" | "));
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(out, "{}", rule.join("-|-"));
        }
    }
    for (name, results) in [("Consort", consort), ("Synapse", synapse)] {
        let Some(results) = results else { continue };
        for (workload, error) in [
            ("(a)", failure(&results.send_latency)),
            ("(b)", failure(&results.throughput)),
            ("(c)", failure(&results.delivery)),
            ("(d)", failure(&results.media)),
            ("(e)", failure(&results.sliding)),
            ("(f)", failure(&results.spread)),
            ("(g)", failure(&results.paced)),
            ("(h)", failure(&results.initial_sync)),
            ("(i)", failure(&results.storage)),
        ] {
            if let Some(error) = error {
                let _ = writeln!(out, "{name} {workload} failed: {error}");
            }
        }
    }
    out.push_str(
        "ratio = Consort / Synapse: below 1 Consort is faster for latencies, above 1 for throughput\n",
    );
    out
}

fn failure<T>(outcome: &Outcome<T>) -> Option<&str> {
    match outcome {
        Outcome::Failed { error } => Some(error),
        Outcome::Done(_) => None,
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    benchmark: &'static str,
    params: &'a Params,
    consort: Option<&'a Results>,
    synapse: Option<&'a Results>,
    ratio_consort_over_synapse: BTreeMap<&'static str, f64>,
}

/// Everything in the table, and the full latency figures, as one line of JSON.
pub fn json_line(params: &Params, consort: Option<&Results>, synapse: Option<&Results>) -> String {
    let ratios = rows(params)
        .iter()
        .filter_map(|row| {
            let key = row.ratio_key?;
            Some((key, ratio(&cell(consort, row), &cell(synapse, row))?))
        })
        .collect();
    let report = JsonReport {
        benchmark: "cs-api-bench",
        params,
        consort,
        synapse,
        ratio_consort_over_synapse: ratios,
    };
    serde_json::to_string(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Errors, Latency};
    use crate::workloads::{send_latency::SendLatency, throughput::Throughput};

    fn params() -> Params {
        Params {
            messages: 4,
            senders: 2,
            seconds: 1.0,
            warmup_seconds: 0.0,
            delivery_messages: 2,
            media_files: 1,
            media_mib: 1,
            sliding_rooms: 1,
            sliding_updates: 1,
            spread_senders: 1,
            paced_rate: 1.0,
            paced_seconds: 1.0,
            sync_rooms: 1,
            storage_messages: 1,
        }
    }

    fn results(p50: f64, rate: f64) -> Results {
        let latency = Latency {
            count: 4,
            p50_ms: p50,
            p99_ms: p50 * 2.0,
            mean_ms: p50,
            max_ms: p50 * 2.0,
        };
        Results {
            url: "http://127.0.0.1:1/".into(),
            receiver_url: "http://127.0.0.1:1/".into(),
            send_latency: Outcome::Done(SendLatency {
                messages: 4,
                ok: 4,
                latency: Some(latency.clone()),
                errors: Errors::default(),
            }),
            throughput: Outcome::Done(Throughput {
                senders: 2,
                seconds: 1.0,
                ok: rate as u64,
                msgs_per_s: rate,
                errors: Errors::default(),
            }),
            delivery: Outcome::Failed {
                error: "no /sync".into(),
            },
            media: Outcome::Failed {
                error: "no media".into(),
            },
            sliding: Outcome::Failed {
                error: "no sliding sync".into(),
            },
            spread: Outcome::Failed {
                error: "none".into(),
            },
            paced: Outcome::Failed {
                error: "none".into(),
            },
            initial_sync: Outcome::Failed {
                error: "none".into(),
            },
            storage: Outcome::Failed {
                error: "none".into(),
            },
            memory: vec![crate::footprint::Resident {
                name: "org1".into(),
                rss_mib: rate,
            }],
        }
    }

    #[test]
    fn ratios_only_where_both_sides_have_the_figure() {
        let (c, s) = (results(20.0, 50.0), results(10.0, 100.0));
        let line = json_line(&params(), Some(&c), Some(&s));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        let ratios = &value["ratio_consort_over_synapse"];
        assert_eq!(ratios["send_p50"], 2.0);
        assert_eq!(ratios["send_p99"], 2.0);
        assert_eq!(ratios["throughput"], 0.5);
        assert!(ratios.get("delivery_p50").is_none());
        assert_eq!(ratios["rss_max_mib"], 0.5);
        assert_eq!(value["consort"]["delivery"]["error"], "no /sync");
        assert_eq!(value["synapse"]["send_latency"]["latency"]["p50_ms"], 10.0);

        let table = table(&params(), Some(&c), Some(&s));
        assert!(table.contains("2.00"));
        assert!(table.contains("Consort (c) failed: no /sync"));
    }

    #[test]
    fn one_sided_runs_have_no_ratios() {
        let s = results(10.0, 100.0);
        let value: serde_json::Value =
            serde_json::from_str(&json_line(&params(), None, Some(&s))).unwrap();
        assert!(value["consort"].is_null());
        assert_eq!(value["ratio_consort_over_synapse"], serde_json::json!({}));
        assert!(table(&params(), None, Some(&s)).contains(" - "));
    }
}

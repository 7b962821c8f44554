//! (d) Media: upload throughput on one node (files uploaded one after another), and the time
//! to first byte of a download of a fresh file of the same size from the delivery receiver's
//! node. On Consort that is another organisation's node, which fetches the file's blocks
//! from the uploader's node and checks each against its CID; on Synapse it is the same
//! server.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Params, Users};
use crate::servers::Target;
use crate::stats::{Errors, Latency};

/// Figures of (d).
#[derive(Debug, Clone, Serialize)]
pub struct Media {
    /// Files uploaded (and downloaded).
    pub files: usize,
    /// Bytes per file.
    pub file_bytes: usize,
    /// Upload throughput, MiB/s, over the sequential uploads.
    pub upload_mib_per_s: f64,
    /// Latency of each upload.
    pub upload: Option<Latency>,
    /// Time to the first byte of each download.
    pub ttfb: Option<Latency>,
    /// Time to the last byte of each download.
    pub download: Option<Latency>,
    /// Whether the downloads were served by another node than the uploads.
    pub cross_node: bool,
    /// Failed requests by kind.
    pub errors: Errors,
}

/// Runs (d) on `target`.
pub async fn run(target: &Target, params: &Params, users: &Users) -> anyhow::Result<Media> {
    let uploader = users.register(&target.url, "media_up").await?;
    let reader = users.register(&target.receiver_url, "media_down").await?;
    let size = params.media_mib * 1024 * 1024;
    let mut errors = Errors::default();
    let mut uploads = Vec::new();
    let mut uris = Vec::new();
    for i in 0..params.media_files {
        // Distinct bytes per file: nothing is served from a copy of an earlier one.
        let seed = rand::random::<u8>() ^ i as u8;
        let file: Vec<u8> = (0..size)
            .map(|j| ((j * 31 + seed as usize) % 251) as u8)
            .collect();
        let t = Instant::now();
        match uploader.upload(file).await {
            Ok(mxc) => {
                uploads.push(t.elapsed());
                uris.push(mxc);
            }
            Err(e) => errors.record("upload", &e),
        }
    }
    let upload_time: Duration = uploads.iter().sum();
    let upload_mib_per_s = if upload_time.is_zero() {
        0.0
    } else {
        (uploads.len() * params.media_mib) as f64 / upload_time.as_secs_f64()
    };
    let mut ttfb = Vec::new();
    let mut whole = Vec::new();
    for mxc in &uris {
        // The receiver's node learns of the upload from the ledger within a block or two.
        let mut answer = reader.download(mxc).await;
        for _ in 0..20 {
            if answer.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            answer = reader.download(mxc).await;
        }
        match answer {
            Ok((first, total, len)) if len == size => {
                ttfb.push(first);
                whole.push(total);
            }
            Ok((_, _, len)) => anyhow::bail!("a download gave {len} bytes, not {size}"),
            Err(e) => errors.record("download", &e),
        }
    }
    Ok(Media {
        files: params.media_files,
        file_bytes: size,
        upload_mib_per_s,
        upload: Latency::of(&uploads),
        ttfb: Latency::of(&ttfb),
        download: Latency::of(&whole),
        cross_node: target.url != target.receiver_url,
        errors,
    })
}

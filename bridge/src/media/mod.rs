//! Media on the ledger: `MediaPin` names a file by its IPFS CID under an `mxc://` URI of the
//! uploading organisation, `MediaUnpin` removes it. The ledger never carries the bytes; every
//! node fetches them by CID and checks each block against it ([`unixfs`]).

pub mod read;
pub mod unixfs;

use consort_chain::Genesis;
use sqlx::AnyConnection;

use crate::records::{MediaPin, MediaUnpin};
use crate::rejection::{Outcome, Rejection, RejectionKind};
use crate::users;
use crate::validate::{check_actor, no_nul};

/// The longest media id accepted (Synapse's are 24 characters).
pub const MAX_MEDIA_ID_LEN: usize = 255;
/// The longest content type accepted.
pub const MAX_CONTENT_TYPE_LEN: usize = 255;

/// Splits `mxc://server/id` into its server name and media id, when both are well formed: a
/// media id is made of `A-Z a-z 0-9 _ -`, as the specification asks.
pub fn split_mxc(mxc: &str) -> Option<(&str, &str)> {
    let (server, id) = mxc.strip_prefix("mxc://")?.split_once('/')?;
    let id_ok = !id.is_empty()
        && id.len() <= MAX_MEDIA_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (!server.is_empty() && id_ok).then_some((server, id))
}

/// Checks that `mxc` is a URI of organisation `org`'s server.
fn check_own_mxc<'a>(genesis: &Genesis, org: &str, mxc: &'a str) -> Result<&'a str, Rejection> {
    let (server, id) =
        split_mxc(mxc).ok_or_else(|| Rejection::malformed(format!("`{mxc}` is not an mxc URI")))?;
    let entry = genesis.org(org).ok_or_else(|| {
        Rejection::wrong_org(format!("organisation `{org}` is not in the genesis"))
    })?;
    if server != entry.server_name {
        return Err(Rejection::wrong_org(format!(
            "{mxc} is not a URI of {org} ({})",
            entry.server_name
        )));
    }
    Ok(id)
}

/// Validates and applies a pin at `pos`: the uploader is a user of the submitting
/// organisation, the URI is the organisation's and new, the CID is one Consort stores and
/// fits the size.
pub async fn apply_pin(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    pin: &MediaPin,
    pos: i64,
) -> Result<Outcome, sqlx::Error> {
    let content_type = pin.content_type.as_deref().unwrap_or_default();
    if let Err(reason) = no_nul(&[&pin.mxc, &pin.cid, &pin.uploader, content_type]) {
        return Ok(Err(reason));
    }
    if let Err(reason) = check_own_mxc(genesis, org, &pin.mxc) {
        return Ok(Err(reason));
    }
    if content_type.len() > MAX_CONTENT_TYPE_LEN {
        return Ok(Err(Rejection::limit("the content type is too long")));
    }
    let cid = match unixfs::parse_cid(&pin.cid) {
        Ok(cid) if cid.to_string() == pin.cid => cid,
        Ok(_) => {
            return Ok(Err(Rejection::malformed(
                "the CID is not in its canonical (base32) form",
            )));
        }
        Err(e) => return Ok(Err(Rejection::malformed(e.to_string()))),
    };
    // One chunk is a raw block; more are a DAG-PB tree.
    let raw = pin.size <= unixfs::CHUNK_SIZE as u64;
    if raw != (cid.codec() == unixfs::RAW) {
        return Ok(Err(Rejection::malformed(format!(
            "a file of {} bytes is not stored as {}",
            pin.size, pin.cid
        ))));
    }
    if i64::try_from(pin.size).is_err() || i64::try_from(pin.at_ms).is_err() {
        return Ok(Err(Rejection::malformed("size or time out of range")));
    }
    let row = users::get_in(conn, &pin.uploader).await?;
    if let Err(reason) = check_actor(genesis, org, &pin.uploader, row.as_ref()) {
        return Ok(Err(reason));
    }
    if read::get_in(conn, &pin.mxc).await?.is_some() {
        return Ok(Err(Rejection::new(
            RejectionKind::MediaInUse,
            format!("{} is already in use", pin.mxc),
        )));
    }
    sqlx::query(
        "INSERT INTO bridge_media (mxc, cid, size, content_type, uploader, org, created_ms, pos) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&pin.mxc)
    .bind(&pin.cid)
    .bind(pin.size as i64)
    .bind(&pin.content_type)
    .bind(&pin.uploader)
    .bind(org)
    .bind(pin.at_ms as i64)
    .bind(pos)
    .execute(&mut *conn)
    .await?;
    Ok(Ok(()))
}

/// Validates and applies a removal at `pos`: only the uploading organisation removes its
/// media, once; the admin is one of its registered users (admin rights are the
/// organisation's own business, vouched for by its signature).
pub async fn apply_unpin(
    conn: &mut AnyConnection,
    genesis: &Genesis,
    org: &str,
    unpin: &MediaUnpin,
    pos: i64,
) -> Result<Outcome, sqlx::Error> {
    if let Err(reason) = no_nul(&[&unpin.mxc, &unpin.admin]) {
        return Ok(Err(reason));
    }
    if let Err(reason) = check_own_mxc(genesis, org, &unpin.mxc) {
        return Ok(Err(reason));
    }
    let row = users::get_in(conn, &unpin.admin).await?;
    if let Err(reason) = check_actor(genesis, org, &unpin.admin, row.as_ref()) {
        return Ok(Err(reason));
    }
    match read::get_in(conn, &unpin.mxc).await? {
        None => {
            return Ok(Err(Rejection::not_found(format!(
                "{} is not pinned",
                unpin.mxc
            ))));
        }
        Some(m) if m.removed => {
            return Ok(Err(Rejection::not_found(format!(
                "{} is already removed",
                unpin.mxc
            ))));
        }
        Some(_) => {}
    }
    sqlx::query("UPDATE bridge_media SET removed_by = $1, removed_pos = $2 WHERE mxc = $3")
        .bind(&unpin.admin)
        .bind(pos)
        .bind(&unpin.mxc)
        .execute(&mut *conn)
        .await?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::split_mxc;

    #[test]
    fn mxc_uris_are_checked() {
        assert_eq!(
            split_mxc("mxc://org1.localhost/abc_D-9"),
            Some(("org1.localhost", "abc_D-9"))
        );
        for bad in [
            "mxc://org1.localhost/",
            "mxc:///abc",
            "http://x/abc",
            "mxc://x/a/b",
            "mxc://x/a.b",
        ] {
            assert_eq!(split_mxc(bad), None, "{bad}");
        }
    }
}

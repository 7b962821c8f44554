//! Signature checks of uploaded keys, the same on every node: a key object is accepted only
//! when the key that claims to have signed it did.

use ruma::serde::Base64;
use ruma::signatures::{to_canonical_json_string_for_signing, verify_canonical_json_bytes};
use ruma::{CanonicalJsonObject, CanonicalJsonValue, SigningKeyAlgorithm};

use crate::rejection::Rejection;

/// Parses key JSON text into a canonical JSON object, refusing anything else.
pub fn object(json: &str) -> Result<CanonicalJsonObject, Rejection> {
    match serde_json::from_str::<CanonicalJsonValue>(json) {
        Ok(CanonicalJsonValue::Object(o)) => Ok(o),
        Ok(_) => Err(Rejection::malformed("a key must be a JSON object")),
        Err(e) => Err(Rejection::malformed(format!(
            "a key is not canonical JSON: {e}"
        ))),
    }
}

/// A string field of an object.
pub fn str_field<'a>(object: &'a CanonicalJsonObject, name: &str) -> Option<&'a str> {
    match object.get(name) {
        Some(CanonicalJsonValue::String(s)) => Some(s),
        _ => None,
    }
}

/// The public key `keys[key_id]` of a device or cross-signing key object.
pub fn public_key<'a>(object: &'a CanonicalJsonObject, key_id: &str) -> Option<&'a str> {
    match object.get("keys") {
        Some(CanonicalJsonValue::Object(keys)) => str_field(keys, key_id),
        _ => None,
    }
}

/// The signature `signatures[signer][key_id]` an object carries.
fn signature<'a>(object: &'a CanonicalJsonObject, signer: &str, key_id: &str) -> Option<&'a str> {
    match object.get("signatures") {
        Some(CanonicalJsonValue::Object(by_signer)) => match by_signer.get(signer) {
            Some(CanonicalJsonValue::Object(sigs)) => str_field(sigs, key_id),
            _ => None,
        },
        _ => None,
    }
}

/// Checks that `object` carries a valid signature of `signer` made with the ed25519 key
/// `ed25519:{key_name}` whose public half is `public_key` (unpadded base64).
pub fn check_signed(
    object: &CanonicalJsonObject,
    signer: &str,
    key_name: &str,
    public_key: &str,
) -> Result<(), Rejection> {
    let key_id = format!("ed25519:{key_name}");
    let sig = signature(object, signer, &key_id)
        .ok_or_else(|| Rejection::bad_signature(format!("not signed by {signer}'s {key_id}")))?;
    let sig = Base64::<ruma::serde::base64::Standard>::parse(sig)
        .map_err(|_| Rejection::malformed(format!("the signature by {key_id} is not base64")))?;
    let key = Base64::<ruma::serde::base64::Standard>::parse(public_key)
        .map_err(|_| Rejection::malformed(format!("the public key {key_id} is not base64")))?;
    let canonical = to_canonical_json_string_for_signing(object)
        .map_err(|e| Rejection::malformed(format!("cannot canonicalize a key: {e}")))?;
    verify_canonical_json_bytes(
        &SigningKeyAlgorithm::Ed25519,
        key.as_bytes(),
        sig.as_bytes(),
        canonical.as_bytes(),
    )
    .map_err(|_| {
        Rejection::bad_signature(format!(
            "the signature by {signer}'s {key_id} does not verify"
        ))
    })
}

/// Merges the `signatures` of `extra` into `object`'s.
pub fn merge_signatures(object: &mut CanonicalJsonObject, extra: &CanonicalJsonObject) {
    let Some(CanonicalJsonValue::Object(new)) = extra.get("signatures") else {
        return;
    };
    let entry = object
        .entry("signatures".to_owned())
        .or_insert_with(|| CanonicalJsonValue::Object(CanonicalJsonObject::new()));
    let CanonicalJsonValue::Object(sigs) = entry else {
        return;
    };
    for (signer, by_key) in new {
        let CanonicalJsonValue::Object(by_key) = by_key else {
            continue;
        };
        let slot = sigs
            .entry(signer.clone())
            .or_insert_with(|| CanonicalJsonValue::Object(CanonicalJsonObject::new()));
        if let CanonicalJsonValue::Object(slot) = slot {
            for (key_id, sig) in by_key {
                slot.insert(key_id.clone(), sig.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rejection::RejectionKind;
    use ed25519_dalek::{Signer, SigningKey};
    use ruma::serde::base64::Standard;

    fn b64(bytes: &[u8]) -> String {
        Base64::<Standard, Vec<u8>>::new(bytes.to_vec()).encode()
    }

    /// A device keys object signed by its own key.
    fn signed_device(key: &SigningKey, tamper: bool) -> CanonicalJsonObject {
        let public = b64(key.verifying_key().as_bytes());
        let mut o = object(&format!(
            r#"{{"user_id":"@a:x","device_id":"D","algorithms":[],"keys":{{"ed25519:D":"{public}"}}}}"#
        ))
        .unwrap();
        let text = to_canonical_json_string_for_signing(&o).unwrap();
        let sig = b64(&key.sign(text.as_bytes()).to_bytes());
        let sigs = object(&format!(
            r#"{{"signatures":{{"@a:x":{{"ed25519:D":"{sig}"}}}}}}"#
        ))
        .unwrap();
        merge_signatures(&mut o, &sigs);
        if tamper {
            o.insert("device_id".into(), CanonicalJsonValue::String("E".into()));
        }
        o
    }

    #[test]
    fn a_self_signed_device_verifies_and_a_tampered_one_does_not() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let good = signed_device(&key, false);
        let public = public_key(&good, "ed25519:D").unwrap().to_owned();
        assert_eq!(check_signed(&good, "@a:x", "D", &public), Ok(()));
        let bad = signed_device(&key, true);
        assert!(check_signed(&bad, "@a:x", "D", &public).is_err());
        // Signed, but by another key than the one it names.
        let other = SigningKey::from_bytes(&[8; 32]);
        let forged = signed_device(&other, false);
        assert!(check_signed(&forged, "@a:x", "D", &public).is_err());
        let wrong_user = check_signed(&good, "@b:x", "D", &public).unwrap_err();
        assert_eq!(wrong_user.kind(), RejectionKind::BadSignature);
        assert!(wrong_user.message().contains("not signed"));
    }
}

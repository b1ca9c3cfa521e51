//! API keys: `<prefix>_<project-slug>_<secret>`, the secret 43 characters of `[A-Za-z0-9]`
//! (43 × log2(62) ≈ 256.03 bits) drawn from the operating system's CSPRNG.
//!
//! Only the SHA-256 of the whole key is stored. A plain hash is enough here: the secret is
//! 256 random bits, so neither brute force nor a precomputed table can invert it, and a fast hash
//! keeps the per-request lookup cheap. A pepper would add a second secret to protect and rotate
//! without making a 256-bit preimage any harder to find.

use std::fmt;

use domain::ProjectSlug;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Characters of the secret part.
pub const SECRET_LEN: usize = 43;
/// Characters of the secret shown in the display prefix.
const SHOWN_SECRET_CHARS: usize = 4;

/// A freshly minted key. `key` is shown to its owner once and never stored.
pub struct MintedKey {
    pub key: String,
    pub hash: [u8; 32],
    pub display_prefix: String,
}

impl fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedKey")
            .field("display_prefix", &self.display_prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the operating system's random source failed")]
    Entropy,
}

/// Mints a new key for a project.
pub fn mint_key(prefix: &str, slug: &ProjectSlug) -> Result<MintedKey, KeyFormatError> {
    let mut secret = String::with_capacity(SECRET_LEN);
    let mut buf = [0u8; 64];
    while secret.len() < SECRET_LEN {
        getrandom::fill(&mut buf).map_err(|_| KeyFormatError::Entropy)?;
        // Rejection sampling: 248 = 4 × 62, so every accepted byte maps uniformly.
        for b in buf.iter().filter(|b| **b < 248) {
            if secret.len() == SECRET_LEN {
                break;
            }
            if let Some(c) = ALPHABET.get(usize::from(*b % 62)) {
                secret.push(char::from(*c));
            }
        }
    }
    let key = format!("{prefix}_{slug}_{secret}");
    let shown: String = secret.chars().take(SHOWN_SECRET_CHARS).collect();
    let display_prefix = format!("{prefix}_{slug}_{shown}");
    Ok(MintedKey {
        hash: hash_key(&key),
        key,
        display_prefix,
    })
}

/// The stored form of a key.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A presented key whose shape is right; it may still be unknown or revoked.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedKey {
    hash: [u8; 32],
}

impl fmt::Debug for ParsedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ParsedKey(..)")
    }
}

impl ParsedKey {
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// Constant-time comparison with a stored hash.
    pub fn matches(&self, stored: &[u8; 32]) -> bool {
        self.hash.ct_eq(stored).into()
    }
}

/// Checks a presented key's shape: `<prefix>_<slug>_<43 letters or digits>`.
pub fn parse_key(prefix: &str, presented: &str) -> Option<ParsedKey> {
    let rest = presented.strip_prefix(prefix)?.strip_prefix('_')?;
    let (slug, secret) = rest.rsplit_once('_')?;
    ProjectSlug::parse(slug).ok()?;
    if secret.len() != SECRET_LEN || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some(ParsedKey {
        hash: hash_key(presented),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn slug() -> ProjectSlug {
        ProjectSlug::parse("myproject").unwrap()
    }

    #[test]
    fn minted_keys_parse_and_match_their_hash() {
        let minted = mint_key("xero", &slug()).unwrap();
        assert!(minted.key.starts_with("xero_myproject_"));
        assert_eq!(minted.key.len(), "xero_myproject_".len() + SECRET_LEN);
        assert!(minted.key.starts_with(&minted.display_prefix));
        let parsed = parse_key("xero", &minted.key).unwrap();
        assert!(parsed.matches(&minted.hash));
        assert!(!parsed.matches(&hash_key("something else")));
    }

    #[test]
    fn secrets_differ_and_use_the_whole_alphabet() {
        let mut seen_keys = HashSet::new();
        let mut seen_chars = HashSet::new();
        for _ in 0..200 {
            let minted = mint_key("xero", &slug()).unwrap();
            seen_chars.extend(minted.key.rsplit('_').next().unwrap().chars());
            assert!(seen_keys.insert(minted.key));
        }
        assert_eq!(seen_chars.len(), 62);
    }

    #[test]
    fn malformed_keys_are_refused() {
        let good = mint_key("xero", &slug()).unwrap().key;
        let secret = good.rsplit('_').next().unwrap().to_owned();
        for bad in [
            String::new(),
            "xero".to_owned(),
            format!("other_myproject_{secret}"),
            format!("xero_My_Project_{secret}"),
            format!("xero_myproject_{}", &secret[1..]),
            format!("xero_myproject_{secret}x"),
            format!("xero_myproject_{}!", &secret[1..]),
            format!("xero__{secret}"),
        ] {
            assert!(parse_key("xero", &bad).is_none(), "{bad} accepted");
        }
        assert!(parse_key("xero", &good).is_some());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let minted = mint_key("xero", &slug()).unwrap();
        let shown = format!("{minted:?}");
        assert!(!shown.contains(&minted.key));
    }
}

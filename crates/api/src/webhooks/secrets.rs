//! Signing secrets: made here, shown once, stored sealed, used to sign each delivery.
//!
//! A secret is `whsec_` and 64 hex digits (256 random bits). At rest it is sealed with
//! ChaCha20-Poly1305 under the operator's key (`webhooks.secret_key`, or the key file), so a
//! database dump alone does not reveal it. The signature of a delivery is the hex HMAC-SHA256
//! of `timestamp + "." + body` under the secret.

use std::fmt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a sealed secret's text (the format's version).
const SEALED_V1: &str = "v1:";
const NONCE_LEN: usize = 12;

/// Why the sealing key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    #[error("webhooks.secret_key_file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("webhooks: the key {0} is not 64 hex digits")]
    Malformed(&'static str),
    #[error("webhooks: no randomness for a key: {0}")]
    Random(String),
}

/// A fresh signing secret.
pub fn new_secret() -> Result<String, SecretKeyError> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SecretKeyError::Random(e.to_string()))?;
    Ok(format!("whsec_{}", hex::encode(bytes)))
}

/// The hex HMAC-SHA256 of `timestamp.body` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Seals and opens signing secrets with the operator's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

impl SecretBox {
    /// From 64 hex digits.
    pub fn from_hex(key: &str, what: &'static str) -> Result<Self, SecretKeyError> {
        let bytes = hex::decode(key.trim()).map_err(|_| SecretKeyError::Malformed(what))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SecretKeyError::Malformed(what))?;
        Ok(Self {
            cipher: ChaCha20Poly1305::new(&Key::from(bytes)),
        })
    }

    /// The key given in config, or else the one in `file`, made (mode 0600) if it is missing.
    pub fn load(key: &str, file: &Path) -> Result<Self, SecretKeyError> {
        if !key.is_empty() {
            return Self::from_hex(key, "webhooks.secret_key");
        }
        let failed = |source| SecretKeyError::File {
            path: file.display().to_string(),
            source,
        };
        match std::fs::read_to_string(file) {
            Ok(text) => Self::from_hex(&text, "in webhooks.secret_key_file"),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0_u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| SecretKeyError::Random(e.to_string()))?;
                let text = hex::encode(bytes);
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(failed)?;
                }
                write_private(file, &text).map_err(failed)?;
                tracing::info!(path = %file.display(), "made a key for webhook secrets");
                Self::from_hex(&text, "in webhooks.secret_key_file")
            }
            Err(err) => Err(failed(err)),
        }
    }

    /// `v1:` and the hex of a random nonce and the ciphertext.
    pub fn seal(&self, secret: &str) -> Result<String, SecretKeyError> {
        let mut nonce = [0_u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SecretKeyError::Random(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), secret.as_bytes())
            .map_err(|_| SecretKeyError::Random("encryption failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(format!("{SEALED_V1}{}", hex::encode(bytes)))
    }

    /// The secret `sealed` holds; `None` if it was not sealed with this key (or is damaged).
    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = hex::decode(sealed.strip_prefix(SEALED_V1)?).ok()?;
        let (nonce, ciphertext) = bytes.split_at_checked(NONCE_LEN)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let plain = self.cipher.decrypt(&Nonce::from(nonce), ciphertext).ok()?;
        String::from_utf8(plain).ok()
    }
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only() {
        let key = "11".repeat(32);
        let sealer = SecretBox::from_hex(&key, "test").unwrap();
        let secret = new_secret().unwrap();
        assert!(secret.starts_with("whsec_") && secret.len() == 70);
        let sealed = sealer.seal(&secret).unwrap();
        assert!(!sealed.contains(&secret[6..]));
        assert_ne!(sealed, sealer.seal(&secret).unwrap(), "nonces are random");
        assert_eq!(sealer.open(&sealed).unwrap(), secret);
        let other = SecretBox::from_hex(&"22".repeat(32), "test").unwrap();
        assert_eq!(other.open(&sealed), None);
        assert_eq!(sealer.open("v1:00"), None);
        assert!(SecretBox::from_hex("abc", "test").is_err());
    }

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_dot_body() {
        // Computed with Python:
        // hmac.new(b"whsec_test", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            sign("whsec_test", 1_700_000_000, b"{}"),
            "35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }

    #[test]
    fn a_missing_key_file_is_made_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys/webhook.key");
        let first = SecretBox::load("", &file).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = first.seal("whsec_x").unwrap();
        let again = SecretBox::load("", &file).unwrap();
        assert_eq!(again.open(&sealed).as_deref(), Some("whsec_x"));
    }
}

//! The keystore: one JSON file per key, readable by its owner only.
//!
//! ```text
//! <keystore>/<name>.json   { "name", "public_key", "address", "secret_seed" }   mode 0600
//! ```
//!
//! The secret seed is the 32-byte Ed25519 seed in hex. It is read into a zeroizing buffer and
//! dropped as soon as the key is built; `inspect` and `list` never print it.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use lamina_interop::crypto::{PublicKey, SecretKey};
use lamina_interop::Address;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::spec::{dev_key, DEV_ACCOUNTS};

/// A key file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    name: String,
    public_key: PublicKey,
    address: Address,
    secret_seed: String,
}

/// What may be shown of a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct KeyInfo {
    /// The key's name.
    pub(crate) name: String,
    /// The Ed25519 public key.
    pub(crate) public_key: PublicKey,
    /// The account address.
    pub(crate) address: Address,
}

/// Keys in a directory.
pub(crate) struct Keystore {
    dir: PathBuf,
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        bail!("key names are 1 to 64 letters, digits, '-' or '_': {name:?}");
    }
    Ok(())
}

impl Keystore {
    /// The keystore in `dir`.
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Keystore {
        Keystore { dir: dir.into() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Whether the keystore holds a key file `name` (the development accounts are not files).
    pub(crate) fn contains(&self, name: &str) -> bool {
        check_name(name).is_ok() && self.path(name).exists()
    }

    /// Creates a new random key `name`; refuses to overwrite one.
    pub(crate) fn generate(&self, name: &str) -> anyhow::Result<KeyInfo> {
        check_name(name)?;
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating keystore {}", self.dir.display()))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))?;
        let key = SecretKey::generate();
        let seed = Zeroizing::new(hex::encode(key.seed()));
        let info = KeyInfo {
            name: name.to_string(),
            public_key: key.public_key(),
            address: Address::of(&key.public_key()),
        };
        let file = KeyFile {
            name: info.name.clone(),
            public_key: info.public_key,
            address: info.address,
            secret_seed: seed.to_string(),
        };
        let text = Zeroizing::new(serde_json::to_string_pretty(&file)?);
        drop(file);
        let path = self.path(name);
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {} (does the key exist already?)", path.display()))?;
        out.write_all(text.as_bytes())?;
        out.sync_all()?;
        Ok(info)
    }

    /// The key `name`: a keystore file, or a development account (`alice`, `bob`, ...).
    pub(crate) fn secret(&self, name: &str) -> anyhow::Result<SecretKey> {
        check_name(name)?;
        let path = self.path(name);
        if !path.exists() {
            if DEV_ACCOUNTS.contains(&name) {
                return Ok(dev_key(name));
            }
            bail!("no key named {name:?} in {}", self.dir.display());
        }
        let mode = fs::metadata(&path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            );
        }
        let text = Zeroizing::new(fs::read_to_string(&path)?);
        let file: KeyFile =
            serde_json::from_str(&text).with_context(|| format!("key file {}", path.display()))?;
        let seed_text = Zeroizing::new(file.secret_seed);
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(seed_text.as_str(), &mut *seed)
            .with_context(|| format!("secret seed in {}", path.display()))?;
        let key = SecretKey::from_seed(*seed);
        if key.public_key() != file.public_key {
            bail!("{}: the public key does not match the seed", path.display());
        }
        Ok(key)
    }

    /// What may be shown of key `name`.
    pub(crate) fn inspect(&self, name: &str) -> anyhow::Result<KeyInfo> {
        let key = self.secret(name)?;
        Ok(KeyInfo {
            name: name.to_string(),
            public_key: key.public_key(),
            address: Address::of(&key.public_key()),
        })
    }

    /// Every key in the keystore, by name.
    pub(crate) fn list(&self) -> anyhow::Result<Vec<KeyInfo>> {
        let mut keys = Vec::new();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Ok(keys);
        };
        for entry in entries {
            let path = entry?.path();
            let Some(name) = key_name(&path) else {
                continue;
            };
            keys.push(self.inspect(&name)?);
        }
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(keys)
    }
}

fn key_name(path: &Path) -> Option<String> {
    if path.extension()? != "json" {
        return None;
    }
    Some(path.file_stem()?.to_str()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_inspect_list_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Keystore::new(dir.path().join("keys"));
        let made = store.generate("validator-1").unwrap();
        assert!(store.generate("validator-1").is_err(), "no overwrite");
        assert!(store.generate("../escape").is_err());
        let mode = fs::metadata(dir.path().join("keys/validator-1.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(store.inspect("validator-1").unwrap(), made);
        assert_eq!(store.list().unwrap(), vec![made.clone()]);
        let text = fs::read_to_string(dir.path().join("keys/validator-1.json")).unwrap();
        assert!(
            !format!("{made:?}").contains(&text[text.find("secret_seed").unwrap() + 15..][..20])
        );
        fs::set_permissions(
            dir.path().join("keys/validator-1.json"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        assert!(
            store.secret("validator-1").is_err(),
            "a readable key file is refused"
        );
        assert_eq!(
            store.inspect("alice").unwrap().public_key,
            dev_key("alice").public_key()
        );
    }
}

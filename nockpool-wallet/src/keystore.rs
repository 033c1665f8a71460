//! The key file of the `nockchain-wallet` binary: master keys (as `zprv`) and their seed
//! phrases, as JSON, readable by its owner only (`0600`; the folder `0700`).
//!
//! The file is not encrypted (Nockchain's own wallet keeps its keys unencrypted in its data
//! folder too): protect it like the seed phrase itself.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{Address, KeyVersion, MasterKey, SeedPhrase, WalletError};

const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Default)]
struct KeystoreFile {
    format: u32,
    /// Index into `keys` of the active master key.
    active: Option<usize>,
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
struct StoredKey {
    /// The address shown for the key (so listing needs no key material).
    address: String,
    version: u8,
    zprv: String,
    seed_phrase: Option<String>,
}

/// One key in the store, as listed (no secrets).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeystoreEntry {
    /// The key's address (v1 pkh or v0 pubkey, by version).
    pub address: String,
    /// The key's version tag.
    pub version: u8,
    /// Whether this is the active key.
    pub active: bool,
    /// Whether the seed phrase is stored.
    pub has_seed_phrase: bool,
}

/// The key store file.
pub struct Keystore {
    path: PathBuf,
    file: KeystoreFile,
}

/// `$XDG_DATA_HOME/nockpool/nockchain-wallet/keystore.json`, else
/// `~/.local/share/nockpool/nockchain-wallet/keystore.json`
/// (`~/Library/Application Support/…` on macOS).
pub fn default_keystore_path() -> Result<PathBuf, WalletError> {
    let tail = Path::new("nockpool")
        .join("nockchain-wallet")
        .join("keystore.json");
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join(tail));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| WalletError::Keystore {
            path: "(default)".into(),
            reason: "neither XDG_DATA_HOME nor HOME is set; pass --keystore PATH".into(),
        })?;
    let base = if cfg!(target_os = "macos") {
        PathBuf::from(home)
            .join("Library")
            .join("Application Support")
    } else {
        PathBuf::from(home).join(".local").join("share")
    };
    Ok(base.join(tail))
}

impl Keystore {
    /// Opens the store at `path`; a missing file is an empty store (created on save).
    pub fn open(path: impl Into<PathBuf>) -> Result<Keystore, WalletError> {
        let path = path.into();
        let err = |reason: String| WalletError::Keystore {
            path: path.display().to_string(),
            reason,
        };
        let file = match fs::read(&path) {
            Ok(bytes) => {
                let file: KeystoreFile = serde_json::from_slice(&bytes)
                    .map_err(|e| err(format!("not a key store file: {e}")))?;
                if file.format != FORMAT {
                    return Err(err(format!("unknown key store format {}", file.format)));
                }
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeystoreFile {
                format: FORMAT,
                active: None,
                keys: Vec::new(),
            },
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(Keystore { path, file })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, reason: impl Into<String>) -> WalletError {
        WalletError::Keystore {
            path: self.path.display().to_string(),
            reason: reason.into(),
        }
    }

    /// Adds a master key (replacing one with the same address). `make_active` makes it the
    /// active key; the first key is always made active. Call [`Keystore::save`] to persist.
    pub fn add(&mut self, master: &MasterKey, make_active: bool) {
        let stored = StoredKey {
            address: master.address().to_string(),
            version: master.version().number(),
            zprv: master.extended_key().to_zprv().to_string(),
            seed_phrase: master.seed_phrase().map(|p| p.as_str().to_string()),
        };
        let index = match self
            .file
            .keys
            .iter()
            .position(|k| k.address == stored.address)
        {
            Some(i) => {
                self.file.keys[i] = stored;
                i
            }
            None => {
                self.file.keys.push(stored);
                self.file.keys.len() - 1
            }
        };
        if make_active || self.file.active.is_none() {
            self.file.active = Some(index);
        }
    }

    /// The active master key, if any.
    pub fn active(&self) -> Result<Option<MasterKey>, WalletError> {
        let Some(index) = self.file.active else {
            return Ok(None);
        };
        let stored = self
            .file
            .keys
            .get(index)
            .ok_or_else(|| self.error("the active key index points nowhere"))?;
        let version = KeyVersion::from_number(stored.version as u64)
            .map_err(|e| self.error(e.to_string()))?;
        let master = match &stored.seed_phrase {
            Some(phrase) => MasterKey::from_seed_phrase(
                SeedPhrase::parse(phrase).map_err(|e| self.error(e.to_string()))?,
                version,
            ),
            None => MasterKey::from_zprv(&stored.zprv)
                .map_err(|e| self.error(e.to_string()))?
                .with_version(version),
        };
        if master.extended_key().to_zprv().as_str() != stored.zprv {
            return Err(self.error("the stored seed phrase and zprv disagree; the file is damaged"));
        }
        Ok(Some(master))
    }

    /// Makes the key with this address active.
    pub fn set_active(&mut self, address: &Address) -> Result<(), WalletError> {
        let text = address.to_string();
        let index = self
            .file
            .keys
            .iter()
            .position(|k| k.address == text)
            .ok_or_else(|| self.error(format!("no key with address {text}")))?;
        self.file.active = Some(index);
        Ok(())
    }

    /// The stored keys (addresses only).
    pub fn entries(&self) -> Vec<KeystoreEntry> {
        self.file
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| KeystoreEntry {
                address: k.address.clone(),
                version: k.version,
                active: self.file.active == Some(i),
                has_seed_phrase: k.seed_phrase.is_some(),
            })
            .collect()
    }

    /// Writes the file atomically with mode `0600` (folder `0700`).
    pub fn save(&self) -> Result<(), WalletError> {
        let io = |e: std::io::Error| self.error(e.to_string());
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(io)?;
        }
        let mut json =
            serde_json::to_vec_pretty(&self.file).map_err(|e| self.error(e.to_string()))?;
        let tmp = self.path.with_extension("json.tmp");
        let result = (|| {
            let mut out = open_private(&tmp)?;
            out.write_all(&json)?;
            out.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        json.zeroize();
        result.map_err(io)
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its old mode on open: force 0600.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
        abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
        abandon abandon abandon abandon art";

    #[test]
    fn keys_persist_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet").join("keystore.json");
        let mut store = Keystore::open(&path).unwrap();
        assert!(store.active().unwrap().is_none());
        let first =
            MasterKey::from_seed_phrase(SeedPhrase::parse(ABANDON).unwrap(), KeyVersion::V1);
        let second = MasterKey::from_seed_phrase(
            SeedPhrase::parse("correct horse battery staple").unwrap(),
            KeyVersion::V0,
        );
        store.add(&first, false);
        store.add(&second, false); // keygen: the first key stays active
        store.save().unwrap();

        let reopened = Keystore::open(&path).unwrap();
        let active = reopened.active().unwrap().unwrap();
        assert_eq!(active.address(), first.address());
        assert_eq!(active.seed_phrase().unwrap().as_str(), ABANDON);
        assert_eq!(reopened.entries().len(), 2);
        assert_eq!(reopened.entries()[1].version, 0);

        let mut reopened = reopened;
        reopened.set_active(&second.address()).unwrap();
        reopened.save().unwrap();
        let again = Keystore::open(&path).unwrap().active().unwrap().unwrap();
        assert_eq!(again.version(), KeyVersion::V0);
        assert_eq!(again.public_key(), second.public_key());

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dir_mode = fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(dir_mode, 0o700);
        }
    }

    #[test]
    fn a_damaged_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystore.json");
        fs::write(&path, "{not json").unwrap();
        let err = Keystore::open(&path).err().unwrap();
        assert!(err.to_string().contains("not a key store file"));
    }
}

//! Text the `nockchain-wallet` binary prints, and the `.env` update of `keygen --output-env`.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use zeroize::Zeroizing;

use crate::{Address, MasterKey, PubkeyHash, WalletError};

/// `keygen`'s report in `nockchain-wallet`'s layout (`nockchain-wallet.md` §3.2): address,
/// extended private and public keys, seed phrase, version. It holds secrets: print it once.
/// `active` is the address of the key store's active key after the new key was added.
pub fn keygen_report(master: &MasterKey, active: &Address) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    let key = master.extended_key();
    let phrase = master.seed_phrase().map(|p| p.as_str()).unwrap_or("(none)");
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "## Generated New Master Key (version {version})\n\
         - Added keys to wallet.\n\
         - Active master key is set to {active}.\n\
         \x20 - To switch the active address, run `nockchain-wallet set-active-master-address <master-address>`.\n\
         \x20 - To see the available master addresses, run `nockchain-wallet list-master-addresses`.\n\
         \n\
         ### Address\n{address}\n\
         \n\
         ### Extended Private Key (save this for import)\n{zprv}\n\
         \n\
         ### Extended Public Key (save this for import)\n{zpub}\n\
         \n\
         ### Seed Phrase (save this for import)\n{phrase}\n\
         \n\
         ### Version (keep this for import with seed phrase)\n{version}\n",
        version = master.version(),
        address = master.address(),
        zprv = key.to_zprv().as_str(),
        zpub = key.to_extended_public().to_zpub(),
    );
    out
}

/// What [`set_env_mining_pubkey`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EnvUpdate {
    /// The file had no `MINING_PUBKEY` line; one was appended (the file is created if absent).
    Appended,
    /// An empty `MINING_PUBKEY=` line (as in `.env.example`) was filled in.
    FilledIn,
    /// `MINING_PUBKEY` already held this address.
    Unchanged,
}

/// Writes `MINING_PUBKEY=<address>` into the `.env` file at `path` for the pool server.
/// Refuses to replace a different address that is already set (edit the file by hand).
pub fn set_env_mining_pubkey(path: &Path, address: &PubkeyHash) -> Result<EnvUpdate, WalletError> {
    let err = |reason: String| WalletError::Keystore {
        path: path.display().to_string(),
        reason,
    };
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(err(e.to_string())),
    };
    let wanted = address.to_string();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut update = None;
    for line in lines.iter_mut() {
        let Some(value) = line.trim_start().strip_prefix("MINING_PUBKEY=") else {
            continue;
        };
        let value = value.trim().trim_matches('"').trim_matches('\'');
        update = Some(if value.is_empty() {
            *line = format!("MINING_PUBKEY={wanted}");
            EnvUpdate::FilledIn
        } else if value == wanted {
            EnvUpdate::Unchanged
        } else {
            return Err(err(format!(
                "MINING_PUBKEY is already set to {value}; edit the file to change it"
            )));
        });
        break;
    }
    let update = match update {
        Some(u) => u,
        None => {
            lines.push(format!("MINING_PUBKEY={wanted}"));
            EnvUpdate::Appended
        }
    };
    if update != EnvUpdate::Unchanged {
        let mut out = lines.join("\n");
        out.push('\n');
        fs::write(path, out).map_err(|e| err(e.to_string()))?;
    }
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKH: &str = "9yPePjfWAdUnzaQKyxcRXKRa5PpUzKKEwtpECBZsUYt9Jd7egSDEWoV";

    #[test]
    fn env_file_is_appended_filled_in_or_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let pkh: PubkeyHash = PKH.parse().unwrap();
        let path = dir.path().join(".env");
        assert_eq!(
            set_env_mining_pubkey(&path, &pkh).unwrap(),
            EnvUpdate::Appended
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("MINING_PUBKEY={PKH}\n")
        );
        assert_eq!(
            set_env_mining_pubkey(&path, &pkh).unwrap(),
            EnvUpdate::Unchanged
        );

        fs::write(&path, "# comment\nMINING_PUBKEY=\nRUST_LOG=info\n").unwrap();
        assert_eq!(
            set_env_mining_pubkey(&path, &pkh).unwrap(),
            EnvUpdate::FilledIn
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("# comment\nMINING_PUBKEY={PKH}\nRUST_LOG=info\n")
        );

        fs::write(
            &path,
            "MINING_PUBKEY=Cogjy7wgp5okmoB9TXjZc51Mki81ynfsNLqEKJkdjFT2JZsn16HnMwC\n",
        )
        .unwrap();
        assert!(set_env_mining_pubkey(&path, &pkh).is_err());
    }
}

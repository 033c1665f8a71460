//! `nockpool-wallet`: Nockchain wallet keys and addresses, compatible with `nockchain-wallet`.
//!
//! A seed phrase becomes a Cheetah key pair exactly as Nockchain's own wallet does it
//! (BIP39 seed → SLIP-10 master key with HMAC key `Nockchain seed` → `k·G` on the Cheetah
//! curve), and a key becomes the addresses a node and other wallets use: the v1 address
//! (Tip5 hash of the public key, what a node's mining key takes) and the v0 address (the
//! public key itself). The field and Tip5 come from `nockpool-pow`; the standard parts
//! (Argon2d, BIP39 word list, HMAC/PBKDF2/SHA-2, base58) from well-kept crates.
//!
//! # Layout
//! - `curve` — the Cheetah curve over the sextic extension `f6`; [`PublicKey`] (97-byte
//!   encoding, base58 = v0 address, [`PublicKey::pubkey_hash`] = v1 address).
//! - `keys` — [`SecretKey`], SLIP-10 [`ExtendedPrivateKey`] / [`ExtendedPublicKey`] with
//!   `zprv…`/`zpub…` text, [`KeyVersion`].
//! - `mnemonic` — [`SeedPhrase`]: keygen (OS entropy → Argon2d → 24 words), phrase → seed.
//! - `master` — [`MasterKey`]: a phrase (or zprv) and its master key, as keygen/import make it.
//! - `address` — [`Address`] (v0 or v1), [`parse_mining_address`] / [`parse_mining_share`] for
//!   `MINING_PUBKEY` (`ADDR[:SHARE]`).
//! - `names` — v1 note first-names of a pkh ([`simple_first_name`], [`coinbase_first_name`];
//!   derived from Nockchain's sources, not yet pinned by an upstream vector).
//! - `notes` — [`NoteSelection`]: which node queries find an address's notes (v0 by key when it
//!   is known, v1 by first-names); [`fetch_balances`] asks a node. [`NodeClient`],
//!   [`NoteQuery`], [`Balance`] come from `nockpool-nockchain` (the one client of a node's gRPC
//!   APIs) and are re-exported here.
//! - `keystore` — [`Keystore`]: the key file (`0600`) the `nockchain-wallet` binary keeps.
//! - `report` — [`keygen_report`] (the keygen text) and [`set_env_mining_pubkey`] (`.env`).
//!
//! # Example
//! ```
//! use nockpool_wallet::{KeyVersion, MasterKey, SeedPhrase};
//!
//! let phrase = SeedPhrase::parse(
//!     "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
//!      abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
//!      abandon abandon abandon art",
//! )?;
//! let master = MasterKey::from_seed_phrase(phrase, KeyVersion::V1);
//! assert_eq!(
//!     master.address().to_string(),
//!     "6Z8NX65NrofLJw7R3LvJ3kVSUs2V5EU3eXrA3H38ezcAmSJW11DChyL"
//! );
//! # Ok::<(), nockpool_wallet::WalletError>(())
//! ```

mod address;
mod curve;
mod error;
mod f6;
mod keys;
mod keystore;
mod master;
mod mnemonic;
mod names;
mod notes;
mod report;
mod scalar;

pub use address::{parse_mining_address, parse_mining_share, Address, MIN_PKH_CHARS};
pub use curve::{PublicKey, PUBLIC_KEY_BASE58_CHARS, PUBLIC_KEY_BYTES};
pub use error::WalletError;
pub use keys::{ExtendedPrivateKey, ExtendedPublicKey, KeyPath, KeyVersion, SecretKey, HARDENED};
pub use keystore::{default_keystore_path, Keystore, KeystoreEntry};
pub use master::MasterKey;
pub use mnemonic::{
    SeedPhrase, KEYGEN_ARGON2_LANES, KEYGEN_ARGON2_MEMORY_KIB, KEYGEN_ARGON2_PASSES,
};
pub use names::{coinbase_first_name, simple_first_name, COINBASE_TIMELOCK_MIN};
pub use nockpool_core::PubkeyHash;
pub use nockpool_nockchain::{
    format_nock, Balance, NodeApi, NodeClient, Note, NoteQuery,
    DEFAULT_NODE_GRPC as DEFAULT_PRIVATE_GRPC, NICKS_PER_NOCK,
};
pub use notes::{fetch_balances, NoteSelection};
pub use report::{keygen_report, set_env_mining_pubkey, EnvUpdate};

//! `nockchain-wallet`: make and keep the farm's mining key, and see what it earned.
//!
//! A `nockchain-wallet`-compatible key tool on `nockpool-wallet`: `keygen` prints the v1
//! address the pool server's `MINING_PUBKEY` takes (and writes it to `.env` with
//! `--output-env`); `balance` / `list-notes-by-address` ask a Nockchain node for notes.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use nockpool_core::Digest;
use nockpool_wallet::{
    fetch_balances, format_nock, keygen_report, set_env_mining_pubkey, Address, Balance, EnvUpdate,
    KeyVersion, Keystore, MasterKey, NodeApi, NoteQuery, NoteSelection, SeedPhrase, WalletError,
    COINBASE_TIMELOCK_MIN, DEFAULT_PRIVATE_GRPC, HARDENED,
};

#[derive(Parser)]
#[command(
    name = "nockchain-wallet",
    version,
    about = "Nockchain keys and balances for a mining farm"
)]
struct Cli {
    /// The key store file (default: ~/.local/share/nockpool/nockchain-wallet/keystore.json).
    #[arg(long, env = "NOCKCHAIN_WALLET_KEYSTORE", global = true)]
    keystore: Option<PathBuf>,
    /// Log filter (error, warn, info, debug); secrets are never logged.
    #[arg(short = 'l', long, global = true)]
    log: Option<String>,
    /// The original guide's node socket. No longer served by any Nockchain node (removed
    /// upstream in August 2025): given, the wallet names the replacement (--nockchain-grpc,
    /// the node's private gRPC API) and exits.
    #[arg(long, global = true, value_name = "PATH")]
    nockchain_socket: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a new version-1 master key, store it, and print it (the seed phrase is shown
    /// only now).
    Keygen {
        /// Also write `MINING_PUBKEY=<address>` into this .env file for the pool server
        /// (`.env` when given without a value).
        #[arg(long, num_args = 0..=1, default_missing_value = ".env", value_name = "PATH")]
        output_env: Option<PathBuf>,
    },
    /// Import a master key from a seed phrase or a zprv, and make it active.
    ImportKeys {
        /// The seed phrase (any text is accepted, as upstream; a warning is printed when it
        /// is not a valid BIP39 phrase).
        #[arg(short, long, conflicts_with = "key")]
        seedphrase: Option<String>,
        /// Key version to tag a seed phrase with: 1 for keys made since October 2025, 0 before.
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=1))]
        version: Option<u8>,
        /// A master extended private key (zprv…).
        #[arg(short, long)]
        key: Option<String>,
    },
    /// Print the active key's address (and both address forms).
    ShowAddress,
    /// Print the active key's extended public key.
    ShowMasterZpub,
    /// Print the active key's seed phrase (a secret: explicit export only).
    ShowSeedphrase,
    /// Derive a child key of the active master key.
    DeriveChild {
        /// Child index (below 2^31).
        index: u32,
        /// Derive the hardened child (index + 2^31).
        #[arg(long)]
        hardened: bool,
    },
    /// List the stored master keys.
    ListMasterAddresses,
    /// Make a stored key the active one.
    SetActiveMasterAddress {
        /// Its address (v1 or v0 form, as listed).
        address: String,
    },
    /// Check an address (v1 pkh or 132-character v0 pubkey) and print its v1 form.
    ValidateAddress {
        /// The address to check.
        address: String,
    },
    /// List the notes of an address with their amounts, from a node.
    ListNotesByAddress {
        /// The address (v1 pkh, or v0 pubkey for legacy notes).
        address: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// The original guide's name for list-notes-by-address.
    ListNotesByPubkey {
        /// The address (v1 pkh, or v0 pubkey for legacy notes).
        #[arg(short = 'p', long = "pubkey")]
        address: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// The total of an address's notes, from a node.
    Balance {
        /// The address (v1 pkh, or v0 pubkey for legacy notes).
        address: String,
        #[command(flatten)]
        node: NodeArgs,
    },
}

#[derive(Args)]
struct NodeArgs {
    /// The node's gRPC URL.
    #[arg(long, env = "NOCKCHAIN_GRPC", default_value = DEFAULT_PRIVATE_GRPC)]
    nockchain_grpc: String,
    /// Which API the URL serves: the private NockAppService (default) or the public
    /// NockchainService.
    #[arg(long, value_enum, default_value_t = ClientKind::Private)]
    client: ClientKind,
    /// Skip the v1 lookup (notes found by the address's simple and coinbase first-names) and
    /// list only legacy v0 notes.
    #[arg(long)]
    v0_only: bool,
    /// Coinbase timelock used for the coinbase first-name (100 on mainnet).
    #[arg(long, default_value_t = COINBASE_TIMELOCK_MIN, value_name = "BLOCKS")]
    coinbase_timelock: u64,
    /// Also list notes with this first-name (base58; repeatable).
    #[arg(long = "first-name", value_name = "B58")]
    first_names: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClientKind {
    Private,
    Public,
}

fn keystore(cli_path: Option<PathBuf>) -> anyhow::Result<Keystore> {
    let path = match cli_path {
        Some(p) => p,
        None => nockpool_wallet::default_keystore_path()?,
    };
    Ok(Keystore::open(path)?)
}

fn active(store: &Keystore) -> anyhow::Result<MasterKey> {
    store.active()?.with_context(|| {
        format!(
            "no key in {}; run `nockchain-wallet keygen` or `import-keys` first",
            store.path().display()
        )
    })
}

fn main() -> anyhow::Result<()> {
    nockpool_bins::load_dotenv();
    let cli = Cli::parse();
    if let Some(path) = &cli.nockchain_socket {
        return Err(WalletError::socket_removed(path.display().to_string()).into());
    }
    nockpool_bins::init_tracing(Some(cli.log.as_deref().unwrap_or("warn")))?;
    match cli.command {
        Command::Keygen { output_env } => {
            let mut store = keystore(cli.keystore)?;
            let master = MasterKey::generate()?;
            store.add(&master, false);
            store.save()?;
            let active = active(&store)?.address();
            print!("{}", keygen_report(&master, &active).as_str());
            println!("\nKey stored in {} (mode 0600).", store.path().display());
            if let Some(path) = output_env {
                let pkh = master.public_key().pubkey_hash();
                let what = match set_env_mining_pubkey(&path, &pkh)? {
                    EnvUpdate::Appended => "appended to",
                    EnvUpdate::FilledIn => "filled in",
                    EnvUpdate::Unchanged => "already in",
                };
                println!("MINING_PUBKEY={pkh} {what} {}.", path.display());
            }
        }
        Command::ImportKeys {
            seedphrase,
            version,
            key,
        } => {
            let mut store = keystore(cli.keystore)?;
            let master = match (seedphrase, key) {
                (Some(text), None) => {
                    let version = version.context("--version 0|1 is required with --seedphrase")?;
                    let phrase = SeedPhrase::parse(&text)?;
                    if !phrase.is_bip39() {
                        eprintln!(
                            "warning: this is not a valid BIP39 phrase; importing it as text"
                        );
                    }
                    MasterKey::from_seed_phrase(phrase, KeyVersion::from_number(version.into())?)
                }
                (None, Some(zprv)) => MasterKey::from_zprv(&zprv)?,
                _ => bail!("give --seedphrase '<words>' --version 0|1, or --key <zprv>"),
            };
            store.add(&master, true);
            store.save()?;
            println!("## Master Key (Imported)");
            println!("- Address: {}", master.address());
            println!("- Version: {}", master.version());
        }
        Command::ShowAddress => {
            let master = active(&keystore(cli.keystore)?)?;
            let public = master.public_key();
            println!("- Address: {}", master.address());
            println!("- Version: {}", master.version());
            println!(
                "- v1 address (pkh, for MINING_PUBKEY): {}",
                public.pubkey_hash()
            );
            println!("- v0 address (public key): {public}");
        }
        Command::ShowMasterZpub => {
            let master = active(&keystore(cli.keystore)?)?;
            let zpub = master.extended_key().to_extended_public().to_zpub();
            println!("- Extended Public Key: {zpub} (save for import)");
            println!("- Corresponding Address: {}", master.address());
            println!("- Version: {}", master.version());
        }
        Command::ShowSeedphrase => {
            let master = active(&keystore(cli.keystore)?)?;
            let phrase = master
                .seed_phrase()
                .context("this key was imported without a seed phrase")?;
            println!("- Seed Phrase: {}", phrase.as_str());
            println!("- Version: {}", master.version());
        }
        Command::DeriveChild { index, hardened } => {
            if index >= HARDENED {
                bail!("index must be below 2^31; use --hardened for hardened children");
            }
            let master = active(&keystore(cli.keystore)?)?;
            let index = if hardened { index + HARDENED } else { index };
            let child = master.extended_key().derive_child(index);
            let public = child.public_key();
            // As nockchain-wallet prints children: depth, index and parent fingerprint zeroed.
            let display = child.clone().without_path();
            println!(
                "## Child Key {index}{}",
                if hardened { " (hardened)" } else { "" }
            );
            println!("- Address (v1 pkh): {}", public.pubkey_hash());
            println!("- Public key (v0 address): {public}");
            println!("- Extended Private Key: {}", display.to_zprv().as_str());
            println!(
                "- Extended Public Key: {}",
                display.to_extended_public().to_zpub()
            );
        }
        Command::ListMasterAddresses => {
            let store = keystore(cli.keystore)?;
            for entry in store.entries() {
                let mark = if entry.active { "*" } else { " " };
                println!("{mark} {} (version {})", entry.address, entry.version);
            }
        }
        Command::SetActiveMasterAddress { address } => {
            let mut store = keystore(cli.keystore)?;
            store.set_active(&Address::parse(&address)?)?;
            store.save()?;
            println!("- Active master address: {address}");
        }
        Command::ValidateAddress { address } => {
            let parsed = Address::parse(&address)?;
            println!("valid v{} address", parsed.version());
            println!(
                "- v1 address (pkh, for MINING_PUBKEY): {}",
                parsed.pubkey_hash()
            );
        }
        Command::ListNotesByAddress { address, node }
        | Command::ListNotesByPubkey { address, node } => {
            run_notes(cli.keystore, &address, node, true)?;
        }
        Command::Balance { address, node } => {
            run_notes(cli.keystore, &address, node, false)?;
        }
    }
    Ok(())
}

fn run_notes(
    keystore_path: Option<PathBuf>,
    address: &str,
    node: NodeArgs,
    list: bool,
) -> anyhow::Result<()> {
    let address = Address::parse(address)?;
    // A pkh does not reveal its public key; if it is this wallet's key, its legacy (v0) notes
    // can still be found by public key.
    let own_key = keystore(keystore_path)
        .and_then(|s| Ok(s.active()?))
        .ok()
        .flatten()
        .map(|master| master.public_key());
    let first_names = node
        .first_names
        .iter()
        .map(|first| {
            Digest::from_base58(first)
                .with_context(|| format!("--first-name {first:?} is not a base58 hash"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // v1 notes are found by the first-names of the address's simple lock and of its coinbase
    // lock (timelock of `--coinbase-timelock` blocks, 100 on mainnet).
    let timelock = (!node.v0_only).then_some(node.coinbase_timelock);
    let selection = NoteSelection::for_address(&address, own_key.as_ref(), timelock, &first_names);
    if node.v0_only {
        println!(
            "NOTE: --v0-only: v1 notes (every coinbase since the v1 cut-over) are not listed{}.",
            if selection.v0.is_none() {
                " and this v1 address is not this wallet's key, so its v0 notes are unknown too"
            } else {
                ""
            }
        );
    }
    let queries = selection.queries();
    if queries.is_empty() {
        return Ok(());
    }
    let api = match node.client {
        ClientKind::Private => NodeApi::Private,
        ClientKind::Public => NodeApi::Public,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let balances: Vec<(NoteQuery, Balance)> =
        runtime.block_on(fetch_balances(&node.nockchain_grpc, api, &queries))?;
    let mut total: u128 = 0;
    let mut count = 0;
    for (query, balance) in &balances {
        if list {
            println!("## Notes by {query}");
            if let Some(h) = balance.height {
                println!("- As of block height {h}");
            }
            for note in &balance.notes {
                println!(
                    "- Note [{} {}]: {} nicks ({} NOCK), v{}, origin page {}",
                    note.first_name.to_base58(),
                    note.last_name.to_base58(),
                    note.assets,
                    format_nock(note.assets as u128),
                    note.version,
                    note.origin_page
                );
            }
        }
        total += balance.total_nicks();
        count += balance.notes.len();
    }
    println!(
        "Total: {count} notes, {total} nicks ({} NOCK)",
        format_nock(total)
    );
    Ok(())
}

use thiserror::Error;

/// Everything that can go wrong in `nockpool-wallet`: bad user input (addresses, keys, seed
/// phrases), key-store files, and talking to a Nockchain node.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WalletError {
    /// An address (v1 pkh or v0 public key) did not parse or validate.
    #[error("invalid Nockchain address: {0}")]
    InvalidAddress(String),
    /// A Cheetah public key (97-byte point or its base58) was malformed or off the curve.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// A `zprv…`/`zpub…` extended key did not parse.
    #[error("invalid extended key: {0}")]
    InvalidExtendedKey(String),
    /// A private key was zero or not below the group order.
    #[error("invalid private key: {0}")]
    InvalidPrivateKey(String),
    /// A seed phrase was empty or not usable.
    #[error("invalid seed phrase: {0}")]
    InvalidSeedPhrase(String),
    /// A child index that this key cannot derive (e.g. hardened from a public key).
    #[error("cannot derive child: {0}")]
    Derivation(String),
    /// The Argon2d step of keygen failed (bad parameters or out of memory).
    #[error("key stretching (Argon2d) failed: {0}")]
    Kdf(String),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Rng(String),
    /// Reading or writing the key-store file failed.
    #[error("key store {path}: {reason}")]
    Keystore {
        /// The key-store file.
        path: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// The node could not be reached, answered with an error, or sent data this wallet cannot
    /// read.
    #[error("node: {0}")]
    Node(#[from] nockpool_nockchain::NodeError),
    /// The original guide's `--nockchain-socket`: no Nockchain node serves the wallet over a
    /// Unix socket any more (upstream replaced it with gRPC on 2025-08-27, nockchain commit
    /// c4499b26); see [`WalletError::socket_removed`].
    #[error(
        "--nockchain-socket {path}: Nockchain nodes no longer serve the wallet over a Unix \
         socket (upstream removed it on 2025-08-27, nockchain commit c4499b26). Ask the node's \
         private gRPC API instead: --nockchain-grpc {grpc} (the node's \
         --bind-private-grpc-port, 5555 by default; or NOCKCHAIN_GRPC in .env), e.g. \
         `nockchain-wallet list-notes-by-address <address> --nockchain-grpc {grpc}` (the \
         guide's `list-notes-by-pubkey -p <address>` still works, with --nockchain-grpc)"
    )]
    SocketRemoved {
        /// The socket path given.
        path: String,
        /// The replacement: the node's private gRPC API on its default address.
        grpc: String,
    },
}

impl WalletError {
    /// The answer to `--nockchain-socket <path>`: the socket is gone; use the node's private
    /// gRPC API ([`DEFAULT_PRIVATE_GRPC`](crate::DEFAULT_PRIVATE_GRPC)).
    pub fn socket_removed(path: impl Into<String>) -> WalletError {
        WalletError::SocketRemoved {
            path: path.into(),
            grpc: nockpool_nockchain::DEFAULT_NODE_GRPC.into(),
        }
    }
}

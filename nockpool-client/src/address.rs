use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use tonic::transport::Uri;

use crate::ClientError;

/// The TCP port a pool listens on when an address names none.
pub const DEFAULT_POOL_PORT: u16 = 7777;

/// A pool's gRPC endpoint, normalised to `http://host:port` (or `https://host:port`).
///
/// Accepts what an operator types: `192.168.1.100` (port [`DEFAULT_POOL_PORT`]),
/// `192.168.1.100:7000`, `[::1]:7777`, `pool.lan`, `pool.lan:7000` or a URL
/// (`http://pool.lan:7777`, `https://pool.lan:7777`). An address without a scheme uses TLS
/// when the client does (`PoolClientBuilder::tls_ca`); `https://` always does.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PoolAddress {
    uri: Uri,
    /// The scheme was typed (`http://` or `https://`), not implied.
    explicit_scheme: bool,
}

impl PoolAddress {
    /// The endpoint as a URI (`http://host:port` or `https://host:port`).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Whether the connection to this pool uses TLS (`https://`).
    pub fn is_tls(&self) -> bool {
        self.uri.scheme_str() == Some("https")
    }

    /// Whether the address named its scheme (`http://…` or `https://…`).
    pub(crate) fn has_explicit_scheme(&self) -> bool {
        self.explicit_scheme
    }

    /// The same pool over TLS.
    pub(crate) fn with_tls(&self) -> PoolAddress {
        let authority = self.uri.authority().map(|a| a.as_str()).unwrap_or("");
        let uri = format!("https://{authority}")
            .parse()
            .unwrap_or_else(|_| self.uri.clone());
        PoolAddress {
            uri,
            explicit_scheme: self.explicit_scheme,
        }
    }
}

impl fmt::Display for PoolAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Uri`'s Display adds a trailing `/`; operators type (and read) `http://host:port`.
        let authority = self.uri.authority().map(|a| a.as_str()).unwrap_or("");
        let scheme = if self.is_tls() { "https" } else { "http" };
        write!(f, "{scheme}://{authority}")
    }
}

impl fmt::Debug for PoolAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PoolAddress({self})")
    }
}

fn invalid(address: &str, reason: impl Into<String>) -> ClientError {
    ClientError::InvalidPoolAddress {
        address: address.to_owned(),
        reason: reason.into(),
    }
}

impl FromStr for PoolAddress {
    type Err = ClientError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let text = input.trim();
        if text.is_empty() {
            return Err(invalid(input, "empty"));
        }
        let mut scheme = "http";
        let mut explicit_scheme = false;
        let authority = if let Some((typed, rest)) = text.split_once("://") {
            scheme = match typed.to_ascii_lowercase().as_str() {
                "http" => "http",
                "https" => "https",
                other => return Err(invalid(input, format!("unknown scheme {other:?}"))),
            };
            explicit_scheme = true;
            let authority = rest.trim_end_matches('/');
            if authority.contains('/') {
                return Err(invalid(input, "a pool URL has no path"));
            }
            authority.to_owned()
        } else if let Ok(socket) = text.parse::<SocketAddr>() {
            socket.to_string()
        } else if let Ok(ip) = text.parse::<IpAddr>() {
            SocketAddr::new(ip, DEFAULT_POOL_PORT).to_string()
        } else {
            text.to_owned()
        };
        let uri: Uri = format!("{scheme}://{authority}")
            .parse()
            .map_err(|e| invalid(input, format!("{e}")))?;
        let parsed = uri.authority().ok_or_else(|| invalid(input, "no host"))?;
        if parsed.host().is_empty() || parsed.as_str().contains('@') {
            return Err(invalid(input, "expected host or host:port"));
        }
        let uri = if parsed.port().is_some() {
            uri
        } else {
            format!("{scheme}://{}:{DEFAULT_POOL_PORT}", parsed.as_str())
                .parse()
                .map_err(|e| invalid(input, format!("{e}")))?
        };
        Ok(PoolAddress {
            uri,
            explicit_scheme,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> String {
        s.parse::<PoolAddress>()
            .map(|a| a.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn operator_forms_normalise() {
        assert_eq!(parse("192.168.1.100"), "http://192.168.1.100:7777");
        assert_eq!(parse("192.168.1.100:7000"), "http://192.168.1.100:7000");
        assert_eq!(parse(" 10.0.0.1 "), "http://10.0.0.1:7777");
        assert_eq!(parse("::1"), "http://[::1]:7777");
        assert_eq!(parse("[::1]:9000"), "http://[::1]:9000");
        assert_eq!(parse("pool.lan"), "http://pool.lan:7777");
        assert_eq!(parse("pool.lan:8000"), "http://pool.lan:8000");
        assert_eq!(parse("http://pool.lan:7777"), "http://pool.lan:7777");
        assert_eq!(parse("http://pool.lan/"), "http://pool.lan:7777");
        assert_eq!(parse("HTTP://127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(parse("https://pool.lan"), "https://pool.lan:7777");
        assert_eq!(parse("HTTPS://127.0.0.1:1/"), "https://127.0.0.1:1");
    }

    #[test]
    fn tls_follows_the_scheme() {
        let bare: PoolAddress = "10.0.0.1".parse().unwrap();
        assert!(!bare.is_tls() && !bare.has_explicit_scheme());
        let tls = bare.with_tls();
        assert!(tls.is_tls());
        assert_eq!(tls.to_string(), "https://10.0.0.1:7777");
        assert_eq!(tls.uri().to_string(), "https://10.0.0.1:7777/");
        let https: PoolAddress = "https://pool.lan".parse().unwrap();
        assert!(https.is_tls() && https.has_explicit_scheme());
    }

    #[test]
    fn bad_addresses_are_refused_with_a_reason() {
        for bad in [
            "",
            "   ",
            "ftp://x",
            "http://x/path",
            "a b",
            "http://",
            "u@h:1",
        ] {
            let err = bad.parse::<PoolAddress>().unwrap_err();
            assert!(
                matches!(err, ClientError::InvalidPoolAddress { .. }),
                "{bad:?}: {err}"
            );
        }
        assert!(parse("host:99999").starts_with("error"));
    }
}

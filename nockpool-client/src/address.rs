use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use tonic::transport::Uri;

use crate::ClientError;

/// The TCP port a pool listens on when an address names none.
pub const DEFAULT_POOL_PORT: u16 = 7777;

/// A pool's gRPC endpoint, normalised to `http://host:port`.
///
/// Accepts what an operator types: `192.168.1.100` (port [`DEFAULT_POOL_PORT`]),
/// `192.168.1.100:7000`, `[::1]:7777`, `pool.lan`, `pool.lan:7000` or a URL
/// (`http://pool.lan:7777`). TLS (`https://`) is refused: pools run on a trusted LAN and the
/// farm token travels in clear, as in the original nockpool.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PoolAddress {
    uri: Uri,
}

impl PoolAddress {
    /// The endpoint as a URI (`http://host:port`).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }
}

impl fmt::Display for PoolAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Uri`'s Display adds a trailing `/`; operators type (and read) `http://host:port`.
        let authority = self.uri.authority().map(|a| a.as_str()).unwrap_or("");
        write!(f, "http://{authority}")
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
        let authority = if let Some((scheme, rest)) = text.split_once("://") {
            match scheme.to_ascii_lowercase().as_str() {
                "http" => {}
                "https" => {
                    return Err(invalid(
                        input,
                        "TLS is not supported; pools speak plain http:// on the farm LAN",
                    ))
                }
                other => return Err(invalid(input, format!("unknown scheme {other:?}"))),
            }
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
        let uri: Uri = format!("http://{authority}")
            .parse()
            .map_err(|e| invalid(input, format!("{e}")))?;
        let parsed = uri.authority().ok_or_else(|| invalid(input, "no host"))?;
        if parsed.host().is_empty() || parsed.as_str().contains('@') {
            return Err(invalid(input, "expected host or host:port"));
        }
        let uri = if parsed.port().is_some() {
            uri
        } else {
            format!("http://{}:{DEFAULT_POOL_PORT}", parsed.as_str())
                .parse()
                .map_err(|e| invalid(input, format!("{e}")))?
        };
        Ok(PoolAddress { uri })
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
    }

    #[test]
    fn bad_addresses_are_refused_with_a_reason() {
        for bad in [
            "",
            "   ",
            "https://pool:7777",
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

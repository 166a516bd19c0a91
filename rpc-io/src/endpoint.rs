//! Endpoint addresses: `tcp://host:port`, `tls://host:port` and `unix:///path`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where a server listens or a client connects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A TCP address, `host:port` (host may be a name).
    Tcp(String),
    /// A Unix stream socket path.
    Unix(PathBuf),
    /// TLS over TCP, `host:port` (the host is also the name the certificate must carry,
    /// unless the client's TLS settings name another).
    Tls(String),
}

/// A malformed endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointError(pub String);

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EndpointError {}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(url: &str) -> Result<Endpoint, EndpointError> {
        for (scheme, what) in [("tcp://", "TCP"), ("tls://", "TLS")] {
            let Some(rest) = url.strip_prefix(scheme) else {
                continue;
            };
            let rest = rest.trim_end_matches('/');
            let ok = rest
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                return Err(EndpointError(format!(
                    "bad {what} endpoint {url:?}: expected {scheme}host:port with a port of \
                     0..65535"
                )));
            }
            return Ok(if scheme == "tcp://" {
                Endpoint::Tcp(rest.to_string())
            } else {
                Endpoint::Tls(rest.to_string())
            });
        }
        if let Some(path) = url.strip_prefix("unix://") {
            if !path.starts_with('/') || path.len() < 2 {
                return Err(EndpointError(format!(
                    "bad Unix endpoint {url:?}: expected unix:///absolute/path"
                )));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        Err(EndpointError(format!(
            "unsupported endpoint {url:?}: use tcp://host:port, tls://host:port or unix:///path"
        )))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tls(a) => write!(f, "tls://{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            "tcp://127.0.0.1:7000".parse(),
            Ok(Endpoint::Tcp("127.0.0.1:7000".into()))
        );
        assert_eq!("tcp://[::1]:1".parse(), Ok(Endpoint::Tcp("[::1]:1".into())));
        assert_eq!(
            "tls://example.com:443".parse(),
            Ok(Endpoint::Tls("example.com:443".into()))
        );
        assert_eq!(
            Endpoint::Tls("h:1".into()).to_string(),
            "tls://h:1",
            "displays as parsed"
        );
        assert_eq!(
            "unix:///tmp/x.sock".parse(),
            Ok(Endpoint::Unix("/tmp/x.sock".into()))
        );
        for bad in [
            "http://x:1",
            "tcp://x",
            "tcp://:80",
            "tcp://x:99999",
            "tls://x",
            "tls://:443",
            "unix://rel",
            "7000",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }
}

//! `http://host[:port]/path?query`, as `workbench load URL` takes it: where to connect, what
//! to send as `Host`, and the request target.
//!
//! Only what a load generator needs is parsed, by hand and strictly: the scheme must be
//! `http` (the generator speaks plain HTTP/1.1; `https` is refused by name), the host is a
//! name, an IPv4 address or a bracketed IPv6 address, the port defaults to 80, and a
//! fragment is dropped (it is never sent). User information (`user:pass@`) is refused rather
//! than silently sent nowhere.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

/// Why a URL cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// `https://`: not supported.
    #[error("{0}: https is not supported; the load generator speaks plain HTTP/1.1 (http://)")]
    Https(String),
    /// Another scheme, or none.
    #[error("{0}: not an http:// URL")]
    Scheme(String),
    /// No host, a bad port, user information, or characters a request line cannot carry.
    #[error("{url}: {why}")]
    Malformed {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The host does not resolve.
    #[error("{url}: cannot resolve {host}: {why}")]
    Resolve {
        /// The URL as given.
        url: String,
        /// The host part.
        host: String,
        /// The resolver's answer.
        why: String,
    },
}

/// An `http://` URL, split for the load generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// The host as written (brackets kept for IPv6), for connecting and for `Host`.
    pub host: String,
    /// The port, 80 unless given.
    pub port: u16,
    /// The `Host` header: the authority as written (`host` or `host:port`).
    pub authority: String,
    /// The request target: path and query, `/` when the URL has none.
    pub target: String,
}

impl HttpUrl {
    /// Parses `url`; nothing is resolved yet.
    pub fn parse(url: &str) -> Result<HttpUrl, UrlError> {
        let malformed = |why| UrlError::Malformed {
            url: url.to_string(),
            why,
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(UrlError::Scheme(url.to_string()));
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err(UrlError::Https(url.to_string()));
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(UrlError::Scheme(url.to_string()));
        }
        if url
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || !b.is_ascii())
        {
            return Err(malformed(
                "spaces, control or non-ASCII characters must be percent-encoded",
            ));
        }
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(malformed("user information (user@) is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (inside, after) = v6
                .split_once(']')
                .ok_or_else(|| malformed("an IPv6 address needs its closing ]"))?;
            (format!("[{inside}]"), after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(malformed("no host"));
        }
        let port = match port {
            None => 80,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return Err(malformed("the port must be a number from 1 to 65535")),
            },
        };
        let target = match target {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        Ok(HttpUrl {
            host,
            port,
            authority: authority.to_string(),
            target,
        })
    }

    /// The first address the host resolves to (names through the system resolver).
    pub fn resolve(&self) -> Result<SocketAddr, UrlError> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let failed = |why: String| UrlError::Resolve {
            url: self.to_string(),
            host: self.host.clone(),
            why,
        };
        (host, self.port)
            .to_socket_addrs()
            .map_err(|err| failed(err.to_string()))?
            .next()
            .ok_or_else(|| failed("no address".into()))
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_port_and_target() {
        let u = HttpUrl::parse("http://127.0.0.1:8080/work?cpu_rounds=1&bytes=2#frag").unwrap();
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.authority.as_str(),
                u.target.as_str()
            ),
            (
                "127.0.0.1",
                8080,
                "127.0.0.1:8080",
                "/work?cpu_rounds=1&bytes=2"
            )
        );
        let u = HttpUrl::parse("HTTP://localhost").unwrap();
        assert_eq!((u.port, u.target.as_str()), (80, "/"));
        let u = HttpUrl::parse("http://[::1]:9000?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("[::1]", 9000, "/?x=1")
        );
        assert_eq!(u.resolve().unwrap(), "[::1]:9000".parse().unwrap());
        assert_eq!(u.to_string(), "http://[::1]:9000/?x=1");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let err = |url: &str| HttpUrl::parse(url).unwrap_err().to_string();
        assert!(err("https://example.com/").contains("https is not supported"));
        assert!(err("127.0.0.1:8080/hello").contains("not an http:// URL"));
        assert!(err("ftp://host/").contains("not an http:// URL"));
        assert!(err("http:///hello").contains("no host"));
        assert!(err("http://host:0/").contains("port must be a number"));
        assert!(err("http://host:99999/").contains("port must be a number"));
        assert!(err("http://host:abc/").contains("port must be a number"));
        assert!(err("http://user:pw@host/").contains("user information"));
        assert!(err("http://[::1/").contains("closing ]"));
        assert!(err("http://host/a b").contains("percent-encoded"));
        for url in ["https://x", "http://", "http://[::1/"] {
            assert!(!err(url).contains('\n'), "one line: {url}");
        }
    }
}

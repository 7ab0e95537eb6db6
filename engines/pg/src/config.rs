//! Where the database is and who we are to it: a libpq-style connection string, read once.
//!
//! Both of libpq's spellings are accepted, as `psql` accepts them:
//!
//! - a URL, `postgresql://user:password@host:port/dbname?param=value` (`postgres://` too);
//!   a host that is a folder goes in the query (`?host=/run/wb-db`) or percent-encoded
//!   (`postgresql://user@%2Frun%2Fwb-db/world`);
//! - keywords, `host=127.0.0.1 port=5432 user=bench dbname=world password='a b'`.
//!
//! A `host` that starts with `/` is the folder of a Unix socket, and the socket is
//! `<folder>/.s.PGSQL.<port>`, as libpq names it. Unknown keywords are refused with their name
//! (libpq does the same), and so is `sslmode=require`: this client speaks no TLS (loopback
//! only, as the whole workbench).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// PostgreSQL's port when none is given.
pub const DEFAULT_PORT: u16 = 5432;

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A TCP address (the host must be an IP address: resolving a name would block the loop).
    Tcp(SocketAddr),
    /// The path of a Unix socket (`<dir>/.s.PGSQL.<port>`).
    Unix(PathBuf),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(addr) => write!(f, "{addr}"),
            Address::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A parsed connection string: where, as whom, to which database.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the server listens.
    pub address: Address,
    /// The role to log in as.
    pub user: String,
    /// The database (defaults to the user's name, as in libpq).
    pub dbname: String,
    /// The password, for `password`, `md5` and `scram-sha-256` authentication.
    pub password: Option<String>,
    /// Shown in `pg_stat_activity`.
    pub application_name: String,
}

// The password stays out of logs.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("address", &self.address)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("application_name", &self.application_name)
            .finish()
    }
}

/// A connection string this client cannot use, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "database connection string: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

fn error<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

impl Config {
    /// Reads a connection string in either spelling (see the module doc).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let text = text.trim();
        let pairs = if let Some(rest) = text
            .strip_prefix("postgresql://")
            .or_else(|| text.strip_prefix("postgres://"))
        {
            url_pairs(rest)?
        } else if text.contains("://") {
            return error(format!(
                "{text:?} is not a postgresql:// URL; write postgresql://user@host:port/dbname \
                 or host=... port=... user=... dbname=..."
            ));
        } else {
            keyword_pairs(text)?
        };
        Config::from_pairs(pairs)
    }

    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Config, ConfigError> {
        let (mut host, mut port, mut user, mut dbname, mut password) =
            (None, None, None, None, None);
        let mut application_name = "workbench-selector".to_owned();
        for (key, value) in pairs {
            if value.contains('\0') {
                return error(format!("the value of {key} contains a NUL byte"));
            }
            match key.as_str() {
                "host" | "hostaddr" => host = Some(value),
                "port" => {
                    port = Some(value.parse::<u16>().or_else(|_| {
                        error(format!("port {value:?} is not a port number (1-65535)"))
                    })?)
                }
                "user" => user = Some(value),
                "dbname" => dbname = Some(value),
                "password" => password = Some(value),
                "application_name" => application_name = value,
                // Accepted and ignored: the loop has its own timeouts.
                "connect_timeout" => {}
                "sslmode" => {
                    if !matches!(value.as_str(), "disable" | "allow" | "prefer") {
                        return error(format!(
                            "sslmode={value} asks for TLS, which this client does not speak; \
                             use sslmode=disable (the workbench talks to a database on loopback)"
                        ));
                    }
                }
                other => {
                    return error(format!(
                        "unknown keyword {other:?}; known: host, hostaddr, port, user, dbname, \
                         password, application_name, connect_timeout, sslmode"
                    ));
                }
            }
        }
        let Some(user) = user.filter(|u| !u.is_empty()) else {
            return error("no user; add user=NAME (or postgresql://NAME@host/dbname)");
        };
        let port = port.unwrap_or(DEFAULT_PORT);
        let host = host.unwrap_or_else(|| "127.0.0.1".to_owned());
        let address = if host.starts_with('/') {
            Address::Unix(PathBuf::from(host).join(format!(".s.PGSQL.{port}")))
        } else {
            let ip: IpAddr = if host == "localhost" {
                IpAddr::from([127, 0, 0, 1])
            } else {
                host.parse().or_else(|_| {
                    error(format!(
                        "host {host:?} is neither an IP address nor a socket folder (starting \
                         with /); the loop does not resolve names (that would block it)"
                    ))
                })?
            };
            Address::Tcp(SocketAddr::new(ip, port))
        };
        Ok(Config {
            address,
            dbname: dbname
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| user.clone()),
            user,
            password,
            application_name,
        })
    }
}

/// `key=value key='quoted \' value'`, as libpq reads them.
fn keyword_pairs(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return error(format!("{key:?} has no value; write {key}=VALUE"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return error(format!("the value of {key} ends inside quotes")),
                    },
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return error(format!("the value of {key} has no closing quote")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(c) = chars.next() {
                        value.push(c);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// The part of a URL after `postgresql://`.
fn url_pairs(rest: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pairs = Vec::new();
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        pairs.push(("user".to_owned(), decode(user)?));
        if let Some(password) = password {
            pairs.push(("password".to_owned(), decode(password)?));
        }
    }
    if !hostport.is_empty() {
        // [::1]:5432, 127.0.0.1:5432, %2Frun%2Fdb (a socket folder, percent-encoded).
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            match v6.split_once(']') {
                Some((host, tail)) => (host.to_owned(), tail.strip_prefix(':')),
                None => return error(format!("{hostport:?}: an IPv6 host needs a closing ]")),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (hostport.to_owned(), None),
            }
        };
        if !host.is_empty() {
            pairs.push(("host".to_owned(), decode(&host)?));
        }
        if let Some(port) = port.filter(|p| !p.is_empty()) {
            pairs.push(("port".to_owned(), decode(port)?));
        }
    }
    if !path.is_empty() {
        pairs.push(("dbname".to_owned(), decode(path)?));
    }
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = param.split_once('=') else {
            return error(format!(
                "URL parameter {param:?} has no value; write {param}=VALUE"
            ));
        };
        pairs.push((decode(key)?, decode(value)?));
    }
    Ok(pairs)
}

/// Percent-decoding (`%2F` → `/`).
fn decode(text: &str) -> Result<String, ConfigError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(byte) => out.push(byte),
                None => return error(format!("{text:?}: % must be followed by two hex digits")),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).or_else(|_| error(format!("{text:?} does not decode to UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_urls_say_the_same() {
        let a = Config::parse("host=127.0.0.1 port=5433 user=bench dbname=world password='a b'")
            .unwrap();
        let b = Config::parse("postgresql://bench:a%20b@127.0.0.1:5433/world").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.address, Address::Tcp("127.0.0.1:5433".parse().unwrap()));
        assert_eq!(a.password.as_deref(), Some("a b"));
    }

    #[test]
    fn a_folder_is_a_unix_socket() {
        let expected = Address::Unix("/tmp/db/.s.PGSQL.5999".into());
        for text in [
            "host=/tmp/db port=5999 user=u",
            "postgresql://u@%2Ftmp%2Fdb:5999/u",
            "postgres:///u?host=/tmp/db&port=5999&user=u",
        ] {
            let config = Config::parse(text).unwrap();
            assert_eq!(config.address, expected, "{text}");
            assert_eq!(config.dbname, "u", "the database defaults to the user");
        }
    }

    #[test]
    fn defaults_and_ipv6() {
        let config = Config::parse("postgresql://u@[::1]/d").unwrap();
        assert_eq!(config.address, Address::Tcp("[::1]:5432".parse().unwrap()));
        let config = Config::parse("user=u host=localhost").unwrap();
        assert_eq!(
            config.address,
            Address::Tcp("127.0.0.1:5432".parse().unwrap())
        );
    }

    #[test]
    fn bad_strings_name_the_problem() {
        for (text, says) in [
            ("host=127.0.0.1", "no user"),
            ("user=u colour=blue", "unknown keyword \"colour\""),
            ("user=u port=http", "not a port number"),
            ("user=u host=db.example", "does not resolve names"),
            ("user=u sslmode=require", "TLS"),
            ("mysql://u@h/d", "not a postgresql:// URL"),
            ("user=u password='open", "no closing quote"),
            ("user", "has no value"),
        ] {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn the_password_stays_out_of_debug() {
        let config = Config::parse("user=u password=secret").unwrap();
        assert!(!format!("{config:?}").contains("secret"));
    }
}

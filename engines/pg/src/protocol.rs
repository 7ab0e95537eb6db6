//! One database connection as a state machine: bytes in, events out, bytes to write queued.
//!
//! This is the `Protocol` half of Twisted's split, for the client side (txpostgres's
//! `Connection`): it never touches a socket, never blocks and never looks at a clock. Whoever
//! drives it — the selector's mio pool, its tokio tasks, the uring engine's ring, a unit test
//! with recorded bytes — hands it what the socket read ([`PgConnection::received`]) and
//! writes what it queued ([`PgConnection::pending`], [`PgConnection::written`]).
//!
//! The messages themselves are encoded and decoded by `postgres-protocol`
//! (`message::frontend`, `message::backend`, `authentication::sasl`), the same codec under
//! `tokio-postgres` and `postgres`; what is written here is only the conversation:
//!
//! ```text
//! Authenticating ─AuthenticationOk→ Starting ─ReadyForQuery→ Preparing ─ReadyForQuery→ Idle
//!   (password, md5,                   (ParameterStatus,        (Parse "world" + Sync
//!    SCRAM round trips)                BackendKeyData)           sent on entry)
//!
//! Idle ─query(ids)→ Busy ─ReadyForQuery→ Idle        (Bind+Execute per id, one Sync)
//! ```

use std::fmt;
use std::io;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::backend::{self, Message};
use postgres_protocol::message::frontend;

use crate::DbError;
use crate::config::Config;

/// The one statement this client prepares: TechEmpower's single query.
pub const WORLD_QUERY: &str = "SELECT id, randomnumber FROM world WHERE id = $1";

/// The prepared statement's name on the server (per connection).
const STATEMENT: &str = "world";

/// `int4`'s type OID: the parameter's type, given with Parse so the server need not infer it.
const INT4_OID: u32 = 23;

/// The wire's format code for binary values: an `int4` travels as 4 big-endian bytes.
const BINARY: i16 = 1;

/// A backend message longer than this is refused as a protocol error: nothing this client
/// asks for comes near it, and the input buffer stays bounded whatever the server sends.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Ids in one query: PostgreSQL takes any number of Bind/Execute pairs before a Sync, but one
/// request's ids are bounded so the output buffer is (`/queries` asks for at most 500).
pub const MAX_IDS: usize = 500;

/// One row of `world`: `(id, randomnumber)`.
pub type Row = (i32, i32);

/// What the connection tells its driver after [`PgConnection::received`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Logged in and the statement prepared: the connection takes queries from now on.
    Ready,
    /// The query in flight is answered: its rows (ids not in the table have none), or the
    /// server's error for it. Either way the connection is idle again.
    Answered(Result<Vec<Row>, DbError>),
}

/// Where the conversation is.
enum State {
    /// StartupMessage sent; the server asks for credentials or says AuthenticationOk.
    Authenticating,
    /// In a SCRAM-SHA-256 exchange.
    Scram(Box<sasl::ScramSha256>),
    /// Authenticated; ParameterStatus and BackendKeyData until ReadyForQuery.
    Starting,
    /// Parse + Sync sent; waiting for ParseComplete and ReadyForQuery.
    Preparing,
    /// Ready for a query.
    Idle,
    /// A query is in flight.
    Busy {
        rows: Vec<Row>,
        error: Option<DbError>,
        /// Ids asked for: `id` is the primary key, so at most one row each.
        asked: usize,
    },
    /// A fatal error was reported; nothing more will be accepted.
    Failed,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            State::Authenticating => "Authenticating",
            State::Scram(_) => "Scram",
            State::Starting => "Starting",
            State::Preparing => "Preparing",
            State::Idle => "Idle",
            State::Busy { .. } => "Busy",
            State::Failed => "Failed",
        };
        f.write_str(name)
    }
}

/// One connection's conversation with PostgreSQL, without I/O.
pub struct PgConnection {
    user: String,
    password: Option<String>,
    state: State,
    /// Bytes received and not yet parsed into whole messages.
    input: BytesMut,
    /// Bytes queued for the socket.
    output: BytesMut,
    /// The server's process id, from BackendKeyData (for logs; a cancel request would use it).
    backend_pid: Option<i32>,
}

impl fmt::Debug for PgConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConnection")
            .field("state", &self.state)
            .field("backend_pid", &self.backend_pid)
            .field("input", &self.input.len())
            .field("output", &self.output.len())
            .finish()
    }
}

impl PgConnection {
    /// A new conversation; the StartupMessage is queued at once (the socket must be connected
    /// before it is written, but the client speaks first).
    pub fn new(config: &Config) -> PgConnection {
        let mut output = BytesMut::with_capacity(256);
        frontend::startup_message(
            [
                ("user", config.user.as_str()),
                ("database", config.dbname.as_str()),
                ("application_name", config.application_name.as_str()),
                ("client_encoding", "UTF8"),
            ],
            &mut output,
        )
        // It fails only on a NUL inside a string, and `Config::parse` refuses those.
        .expect("Config::parse refuses NUL bytes");
        PgConnection {
            user: config.user.clone(),
            password: config.password.clone(),
            state: State::Authenticating,
            input: BytesMut::new(),
            output,
            backend_pid: None,
        }
    }

    /// Bytes waiting to be written to the socket (empty when there are none).
    pub fn pending(&self) -> &[u8] {
        &self.output
    }

    /// The driver wrote `n` bytes of [`PgConnection::pending`].
    pub fn written(&mut self, n: usize) {
        let _ = self.output.split_to(n.min(self.output.len()));
    }

    /// Writes [`PgConnection::pending`] with `write` (a non-blocking socket's write, whichever
    /// loop drives it) until it is all out or the socket would block: the rest goes when the
    /// socket is writable again. An `Err` is fatal for the connection.
    pub fn flush(
        &mut self,
        mut write: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> Result<(), DbError> {
        while !self.pending().is_empty() {
            match write(self.pending()) {
                Ok(0) => return Err(DbError::Lost("the socket takes no more bytes".into())),
                Ok(n) => self.written(n),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(DbError::Lost(err.to_string())),
            }
        }
        Ok(())
    }

    /// Whether a query may be sent now.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// Whether the connection has logged in and prepared its statement (idle or busy).
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Idle | State::Busy { .. })
    }

    /// The server's process id, once known.
    pub fn backend_pid(&self) -> Option<i32> {
        self.backend_pid
    }

    /// Queues one query for `ids`: a Bind and an Execute per id, then one Sync, all in one
    /// write (pipelining: one round trip for the whole batch). The answer comes as one
    /// [`Event::Answered`].
    ///
    /// # Panics
    ///
    /// If the connection is not idle ([`PgConnection::is_idle`]): the driver keeps one query
    /// per connection in flight, and sending a second would be its bug.
    pub fn query(&mut self, ids: &[i32]) -> Result<(), DbError> {
        assert!(
            self.is_idle(),
            "query on a connection that is {:?}",
            self.state
        );
        if ids.is_empty() || ids.len() > MAX_IDS {
            return Err(DbError::Request(format!(
                "{} ids in one query; ask for 1 to {MAX_IDS}",
                ids.len()
            )));
        }
        for &id in ids {
            let bound = frontend::bind(
                "",
                STATEMENT,
                [BINARY],
                [id],
                |id, buf| {
                    postgres_protocol::types::int4_to_sql(id, buf);
                    Ok(postgres_protocol::IsNull::No)
                },
                [BINARY],
                &mut self.output,
            );
            if bound.is_err() {
                return Err(DbError::Request("cannot encode Bind".into()));
            }
            frontend::execute("", 0, &mut self.output).map_err(io_protocol)?;
        }
        frontend::sync(&mut self.output);
        self.state = State::Busy {
            rows: Vec::with_capacity(ids.len()),
            error: None,
            asked: ids.len(),
        };
        Ok(())
    }

    /// Queues a Terminate: the polite goodbye before closing the socket.
    pub fn terminate(&mut self) {
        frontend::terminate(&mut self.output);
        self.state = State::Failed;
    }

    /// Feeds bytes read from the socket, in pieces of any size. Whole messages are handled
    /// and their events pushed onto `events`; a partial message waits for the rest.
    ///
    /// An `Err` is fatal (the server refused the login, broke the protocol, or said FATAL):
    /// the driver closes the socket, and a query in flight gets that error.
    pub fn received(&mut self, bytes: &[u8], events: &mut Vec<Event>) -> Result<(), DbError> {
        if matches!(self.state, State::Failed) {
            return Err(DbError::Protocol(
                "bytes after the connection failed".into(),
            ));
        }
        self.input.extend_from_slice(bytes);
        let result = self.parse_all(events);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn parse_all(&mut self, events: &mut Vec<Event>) -> Result<(), DbError> {
        loop {
            if let Some(header) = backend::Header::parse(&self.input).map_err(io_protocol)?
                && header.len() as usize > MAX_MESSAGE_BYTES
            {
                return Err(DbError::Protocol(format!(
                    "a {}-byte message (tag {:?}); the limit is {MAX_MESSAGE_BYTES}",
                    header.len(),
                    header.tag() as char
                )));
            }
            match Message::parse(&mut self.input).map_err(io_protocol)? {
                Some(message) => self.handle(message, events)?,
                None => return Ok(()),
            }
        }
    }

    fn handle(&mut self, message: Message, events: &mut Vec<Event>) -> Result<(), DbError> {
        // Messages the server may send at any time (protocol docs, "Asynchronous Operations").
        match &message {
            Message::NoticeResponse(notice) => {
                if let Ok(notice) = server_error(notice.fields()) {
                    tracing::debug!(%notice, "database notice");
                }
                return Ok(());
            }
            Message::ParameterStatus(_) | Message::NotificationResponse(_) => return Ok(()),
            _ => {}
        }
        let state = std::mem::replace(&mut self.state, State::Failed);
        self.state = match (state, message) {
            // A FATAL error at login (no such role or database, bad password...), or an
            // ERROR before the conversation settled: nothing to recover.
            (
                State::Authenticating | State::Scram(_) | State::Starting | State::Preparing,
                Message::ErrorResponse(body),
            ) => return Err(server_error(body.fields())?),

            (State::Authenticating | State::Scram(_), Message::AuthenticationOk) => State::Starting,
            (State::Authenticating, Message::AuthenticationCleartextPassword) => {
                let password = self.password("password")?;
                frontend::password_message(password.as_bytes(), &mut self.output)
                    .map_err(io_protocol)?;
                State::Authenticating
            }
            (State::Authenticating, Message::AuthenticationMd5Password(body)) => {
                let password = self.password("md5")?;
                let hash = md5_hash(self.user.as_bytes(), password.as_bytes(), body.salt());
                frontend::password_message(hash.as_bytes(), &mut self.output)
                    .map_err(io_protocol)?;
                State::Authenticating
            }
            (State::Authenticating, Message::AuthenticationSasl(body)) => {
                let mut offered = Vec::new();
                let mut mechanisms = body.mechanisms();
                while let Some(mechanism) = mechanisms.next().map_err(io_protocol)? {
                    offered.push(mechanism.to_owned());
                }
                if !offered.iter().any(|m| m == sasl::SCRAM_SHA_256) {
                    return Err(DbError::Auth(format!(
                        "the server offers SASL {offered:?}; this client speaks SCRAM-SHA-256 \
                         without channel binding (no TLS)"
                    )));
                }
                let password = self.password("scram-sha-256")?;
                // No TLS, so no channel binding: the client says it does not support it
                // (gs2 header "n,,"), which PostgreSQL accepts unless told to require it.
                let scram = sasl::ScramSha256::new(
                    password.as_bytes(),
                    sasl::ChannelBinding::unsupported(),
                );
                frontend::sasl_initial_response(
                    sasl::SCRAM_SHA_256,
                    scram.message(),
                    &mut self.output,
                )
                .map_err(io_protocol)?;
                State::Scram(Box::new(scram))
            }
            (State::Scram(mut scram), Message::AuthenticationSaslContinue(body)) => {
                scram
                    .update(body.data())
                    .map_err(|e| DbError::Auth(format!("SCRAM: {e}")))?;
                frontend::sasl_response(scram.message(), &mut self.output).map_err(io_protocol)?;
                State::Scram(scram)
            }
            (State::Scram(mut scram), Message::AuthenticationSaslFinal(body)) => {
                // Authenticates the server to us: a wrong signature is an impostor.
                scram
                    .finish(body.data())
                    .map_err(|e| DbError::Auth(format!("SCRAM: the server's proof: {e}")))?;
                State::Authenticating // AuthenticationOk follows.
            }
            (
                State::Authenticating,
                Message::AuthenticationGss
                | Message::AuthenticationKerberosV5
                | Message::AuthenticationScmCredential
                | Message::AuthenticationSspi
                | Message::AuthenticationGssContinue(_),
            ) => {
                return Err(DbError::Auth(
                    "the server asks for GSS/Kerberos/SSPI authentication; this client speaks \
                     trust, password, md5 and scram-sha-256 (set one in pg_hba.conf)"
                        .into(),
                ));
            }

            (State::Starting, Message::BackendKeyData(body)) => {
                self.backend_pid = Some(body.process_id());
                State::Starting
            }
            (State::Starting, Message::ReadyForQuery(_)) => {
                // Prepare once; every query after binds to it. Sync (not Flush) so an error in
                // the statement (no table `world`) comes back with a ReadyForQuery behind it.
                frontend::parse(STATEMENT, WORLD_QUERY, [INT4_OID], &mut self.output)
                    .map_err(io_protocol)?;
                frontend::sync(&mut self.output);
                State::Preparing
            }
            (State::Preparing, Message::ParseComplete) => State::Preparing,
            (State::Preparing, Message::ReadyForQuery(_)) => {
                events.push(Event::Ready);
                State::Idle
            }

            (state @ State::Busy { .. }, Message::BindComplete | Message::CommandComplete(_)) => {
                state
            }
            (
                State::Busy {
                    mut rows,
                    error,
                    asked,
                },
                Message::DataRow(body),
            ) => {
                if rows.len() == asked {
                    return Err(DbError::Protocol(format!(
                        "more rows than the {asked} ids asked for: world.id must be the \
                         primary key"
                    )));
                }
                rows.push(world_row(&body)?);
                State::Busy { rows, error, asked }
            }
            // After an error the server skips to our Sync, then says ReadyForQuery: the
            // connection stays usable; the request gets the error.
            (
                State::Busy {
                    rows,
                    error: None,
                    asked,
                },
                Message::ErrorResponse(body),
            ) => {
                let error = server_error(body.fields())?;
                if error.is_fatal() {
                    return Err(error);
                }
                State::Busy {
                    rows,
                    error: Some(error),
                    asked,
                }
            }
            (State::Busy { rows, error, .. }, Message::ReadyForQuery(_)) => {
                events.push(Event::Answered(match error {
                    Some(error) => Err(error),
                    None => Ok(rows),
                }));
                State::Idle
            }
            // Not a state for an ErrorResponse (Idle): the server is going away (a FATAL
            // "terminating connection due to administrator command").
            (_, Message::ErrorResponse(body)) => return Err(server_error(body.fields())?),
            (state, message) => {
                return Err(DbError::Protocol(format!(
                    "unexpected message {} while {state:?}",
                    message_name(&message)
                )));
            }
        };
        Ok(())
    }

    fn password(&self, method: &str) -> Result<String, DbError> {
        self.password.clone().ok_or_else(|| {
            DbError::Auth(format!(
                "the server asks for a password ({method} authentication); give one in the \
                 connection string (password=...)"
            ))
        })
    }
}

/// A DataRow of `(id int4, randomnumber int4)` in binary: two 4-byte values.
fn world_row(body: &backend::DataRowBody) -> Result<Row, DbError> {
    let buffer = body.buffer();
    let mut ranges = body.ranges();
    let mut column = || -> Result<i32, DbError> {
        match ranges.next().map_err(io_protocol)? {
            Some(Some(range)) if range.len() == 4 => Ok(i32::from_be_bytes(
                buffer[range].try_into().expect("4 bytes"),
            )),
            Some(Some(range)) => Err(DbError::Protocol(format!(
                "a {}-byte column where an int4 (4 bytes) was expected: world's columns must be \
                 (id int, randomnumber int)",
                range.len()
            ))),
            Some(None) => Err(DbError::Protocol(
                "a NULL in world: id and randomnumber must be NOT NULL".into(),
            )),
            None => Err(DbError::Protocol(
                "a row with fewer than two columns".into(),
            )),
        }
    };
    let id = column()?;
    let random_number = column()?;
    Ok((id, random_number))
}

/// The fields of an ErrorResponse (or NoticeResponse) as a [`DbError::Server`].
fn server_error(mut fields: backend::ErrorFields<'_>) -> Result<DbError, DbError> {
    let (mut severity, mut code, mut message) = (String::new(), String::new(), String::new());
    while let Some(field) = fields.next().map_err(io_protocol)? {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            // 'V' is never localized; 'S' may be, and comes first.
            b'V' => severity = value,
            b'S' if severity.is_empty() => severity = value,
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
    }
    Ok(DbError::Server {
        severity,
        code,
        message,
    })
}

fn io_protocol(err: io::Error) -> DbError {
    DbError::Protocol(err.to_string())
}

fn message_name(message: &Message) -> &'static str {
    match message {
        Message::AuthenticationOk => "AuthenticationOk",
        Message::AuthenticationSasl(_) => "AuthenticationSASL",
        Message::AuthenticationSaslContinue(_) => "AuthenticationSASLContinue",
        Message::AuthenticationSaslFinal(_) => "AuthenticationSASLFinal",
        Message::AuthenticationMd5Password(_) => "AuthenticationMD5Password",
        Message::AuthenticationCleartextPassword => "AuthenticationCleartextPassword",
        Message::BackendKeyData(_) => "BackendKeyData",
        Message::BindComplete => "BindComplete",
        Message::CommandComplete(_) => "CommandComplete",
        Message::DataRow(_) => "DataRow",
        Message::EmptyQueryResponse => "EmptyQueryResponse",
        Message::NoData => "NoData",
        Message::ParseComplete => "ParseComplete",
        Message::ReadyForQuery(_) => "ReadyForQuery",
        Message::RowDescription(_) => "RowDescription",
        Message::CopyInResponse(_) | Message::CopyOutResponse(_) => "Copy*Response",
        _ => "another backend message",
    }
}

#[cfg(test)]
mod tests {
    //! The conversation fed backend bytes recorded from PostgreSQL 15 (`recorded/`), and bytes
    //! written out from the protocol documentation's message formats (chapter 55.7) for what a
    //! healthy server will not say on cue (errors, notices, password requests), whole, one byte
    //! at a time and split at every point.

    use super::*;

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn auth(code: i32, extra: &[u8]) -> Vec<u8> {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(extra);
        message(b'R', &body)
    }

    fn ready() -> Vec<u8> {
        message(b'Z', b"I")
    }

    fn data_row(values: &[&[u8]]) -> Vec<u8> {
        let mut body = (values.len() as i16).to_be_bytes().to_vec();
        for value in values {
            body.extend_from_slice(&(value.len() as i32).to_be_bytes());
            body.extend_from_slice(value);
        }
        message(b'D', &body)
    }

    fn row(id: i32, random_number: i32) -> Vec<u8> {
        data_row(&[&id.to_be_bytes(), &random_number.to_be_bytes()])
    }

    fn error(severity: &str, code: &str, text: &str) -> Vec<u8> {
        let mut body = Vec::new();
        for (field, value) in [
            (b'S', severity),
            (b'V', severity),
            (b'C', code),
            (b'M', text),
        ] {
            body.push(field);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        message(b'E', &body)
    }

    /// What a trust login sends up to the first ReadyForQuery (as PostgreSQL 15 does).
    fn login() -> Vec<u8> {
        [
            auth(0, b""),
            message(b'S', b"server_version\x0015.18\x00"),
            message(b'S', b"client_encoding\x00UTF8\x00"),
            message(b'K', &[0, 0, 0x30, 0x39, 1, 2, 3, 4]),
            ready(),
        ]
        .concat()
    }

    /// The answer to Parse + Sync.
    fn prepared() -> Vec<u8> {
        [message(b'1', b""), ready()].concat()
    }

    /// The answer to `query(&[1, 2, 3])` where id 3 is not in the table.
    fn answer() -> Vec<u8> {
        [
            message(b'2', b""),
            row(1, 4_001),
            message(b'C', b"SELECT 1\x00"),
            message(b'2', b""),
            message(b'N', &error("NOTICE", "00000", "a notice in between")[5..]),
            row(2, 9_999),
            message(b'C', b"SELECT 1\x00"),
            message(b'2', b""),
            message(b'C', b"SELECT 0\x00"),
            ready(),
        ]
        .concat()
    }

    fn config(password: Option<&str>) -> Config {
        let mut config = Config::parse("host=127.0.0.1 user=bench dbname=world").unwrap();
        config.password = password.map(str::to_owned);
        config
    }

    /// The tags of the frontend messages queued (after the untagged StartupMessage).
    fn tags(conn: &mut PgConnection) -> Vec<u8> {
        let bytes = conn.pending().to_vec();
        conn.written(bytes.len());
        let mut tags = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            tags.push(rest[0]);
            let len = i32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
            rest = &rest[1 + len..];
        }
        tags
    }

    /// Feeds `bytes` whole, or one byte at a time.
    fn feed(conn: &mut PgConnection, bytes: &[u8], bytewise: bool) -> Result<Vec<Event>, DbError> {
        let mut events = Vec::new();
        if bytewise {
            for byte in bytes {
                conn.received(std::slice::from_ref(byte), &mut events)?;
            }
        } else {
            conn.received(bytes, &mut events)?;
        }
        Ok(events)
    }

    #[test]
    fn trust_login_prepares_once_then_answers_a_pipelined_batch() {
        for bytewise in [false, true] {
            let mut conn = PgConnection::new(&config(None));
            let startup = conn.pending().to_vec();
            assert_eq!(
                &startup[4..8],
                &0x0003_0000_i32.to_be_bytes(),
                "protocol 3.0"
            );
            let text = String::from_utf8_lossy(&startup);
            assert!(text.contains("user\0bench\0") && text.contains("database\0world\0"));
            conn.written(startup.len());

            assert_eq!(feed(&mut conn, &login(), bytewise).unwrap(), vec![]);
            assert_eq!(conn.backend_pid(), Some(12345));
            assert_eq!(
                tags(&mut conn),
                b"PS",
                "Parse and Sync after the first ReadyForQuery"
            );
            assert!(!conn.is_idle());

            assert_eq!(
                feed(&mut conn, &prepared(), bytewise).unwrap(),
                vec![Event::Ready]
            );
            assert!(conn.is_idle());

            conn.query(&[1, 2, 3]).unwrap();
            assert_eq!(tags(&mut conn), b"BEBEBES", "one Sync behind the batch");
            assert!(!conn.is_idle() && conn.is_ready());
            assert_eq!(
                feed(&mut conn, &answer(), bytewise).unwrap(),
                vec![Event::Answered(Ok(vec![(1, 4_001), (2, 9_999)]))],
                "bytewise: {bytewise}"
            );
            assert!(conn.is_idle());
        }
    }

    /// What PostgreSQL 15.18 sent to this client for a trust login, the Parse + Sync, and
    /// `query(&[1, 2, 3, 999])` (`randomnumber = id * 7`; 999 is not in the table), recorded
    /// by `pg::tests` with `WB_PG_RECORD`.
    const RECORDED_LOGIN: &[u8] = include_bytes!("recorded/trust-login.bin");
    const RECORDED_ANSWER: &[u8] = include_bytes!("recorded/answer-1-2-3-999.bin");

    #[test]
    fn a_recorded_postgresql_15_conversation_whole_bytewise_and_split_anywhere() {
        let expected = vec![Event::Answered(Ok(vec![(1, 7), (2, 14), (3, 21)]))];
        for bytewise in [false, true] {
            let mut conn = PgConnection::new(&config(None));
            conn.written(conn.pending().len());
            assert_eq!(
                feed(&mut conn, RECORDED_LOGIN, bytewise).unwrap(),
                vec![Event::Ready]
            );
            assert_eq!(tags(&mut conn), b"PS");
            assert_eq!(conn.backend_pid(), Some(20046));
            conn.query(&[1, 2, 3, 999]).unwrap();
            assert_eq!(
                feed(&mut conn, RECORDED_ANSWER, bytewise).unwrap(),
                expected
            );
        }
        for cut in 0..RECORDED_ANSWER.len() {
            let mut conn = PgConnection::new(&config(None));
            feed(&mut conn, RECORDED_LOGIN, false).unwrap();
            conn.query(&[1, 2, 3, 999]).unwrap();
            let mut events = feed(&mut conn, &RECORDED_ANSWER[..cut], false).unwrap();
            events.extend(feed(&mut conn, &RECORDED_ANSWER[cut..], false).unwrap());
            assert_eq!(events, expected, "cut at {cut}");
        }
    }

    #[test]
    fn answers_split_anywhere_give_the_same_events() {
        let whole = [login(), prepared()].concat();
        for cut in 0..whole.len() {
            let mut conn = PgConnection::new(&config(None));
            let mut events = feed(&mut conn, &whole[..cut], false).unwrap();
            events.extend(feed(&mut conn, &whole[cut..], false).unwrap());
            assert_eq!(events, vec![Event::Ready], "cut at {cut}");
        }
    }

    #[test]
    fn an_error_fails_the_request_and_keeps_the_connection() {
        let mut conn = PgConnection::new(&config(None));
        feed(&mut conn, &[login(), prepared()].concat(), false).unwrap();
        conn.query(&[1, 2]).unwrap();
        let failed = [
            message(b'2', b""),
            row(1, 5),
            error(
                "ERROR",
                "57014",
                "canceling statement due to statement timeout",
            ),
            ready(),
        ]
        .concat();
        let events = feed(&mut conn, &failed, true).unwrap();
        let [Event::Answered(Err(DbError::Server { code, .. }))] = &events[..] else {
            panic!("{events:?}");
        };
        assert_eq!(code, "57014");
        assert!(conn.is_idle(), "usable after the Sync's ReadyForQuery");
        conn.query(&[7]).unwrap();
        let events = feed(
            &mut conn,
            &[
                message(b'2', b""),
                row(7, 70),
                message(b'C', b"SELECT 1\0"),
                ready(),
            ]
            .concat(),
            false,
        )
        .unwrap();
        assert_eq!(events, vec![Event::Answered(Ok(vec![(7, 70)]))]);
    }

    #[test]
    fn a_fatal_error_is_fatal() {
        let mut conn = PgConnection::new(&config(None));
        feed(&mut conn, &[login(), prepared()].concat(), false).unwrap();
        let shutdown = error(
            "FATAL",
            "57P01",
            "terminating connection due to administrator command",
        );
        let err = feed(&mut conn, &shutdown, false).unwrap_err();
        assert!(err.is_fatal(), "{err}");
        assert!(
            feed(&mut conn, &ready(), false).is_err(),
            "nothing after a fatal error"
        );
    }

    #[test]
    fn a_missing_table_fails_the_login() {
        let mut conn = PgConnection::new(&config(None));
        let no_table = [
            login(),
            error("ERROR", "42P01", "relation \"world\" does not exist"),
            ready(),
        ]
        .concat();
        let err = feed(&mut conn, &no_table, false).unwrap_err();
        assert!(err.to_string().contains("42P01"), "{err}");
    }

    #[test]
    fn md5_and_cleartext_send_the_password_and_ask_for_one_when_missing() {
        let salt = [1, 2, 3, 4];
        let mut conn = PgConnection::new(&config(Some("sesame")));
        conn.written(conn.pending().len());
        feed(&mut conn, &auth(5, &salt), false).unwrap();
        let sent = conn.pending().to_vec();
        let hash = md5_hash(b"bench", b"sesame", salt);
        assert_eq!(sent[0], b'p');
        assert_eq!(&sent[5..sent.len() - 1], hash.as_bytes());
        conn.written(sent.len());
        assert_eq!(feed(&mut conn, &login(), false).unwrap(), vec![]);

        let mut conn = PgConnection::new(&config(Some("sesame")));
        conn.written(conn.pending().len());
        feed(&mut conn, &auth(3, b""), false).unwrap();
        assert_eq!(&conn.pending()[5..], b"sesame\0");

        let mut conn = PgConnection::new(&config(None));
        let err = feed(&mut conn, &auth(5, &salt), false).unwrap_err();
        assert!(err.to_string().contains("password="), "{err}");
    }

    #[test]
    fn scram_is_offered_and_other_sasl_is_refused() {
        let mut conn = PgConnection::new(&config(Some("sesame")));
        conn.written(conn.pending().len());
        feed(&mut conn, &auth(10, b"SCRAM-SHA-256\0\0"), false).unwrap();
        let sent = conn.pending().to_vec();
        assert_eq!(sent[0], b'p');
        let text = String::from_utf8_lossy(&sent);
        assert!(
            text.contains("SCRAM-SHA-256\0") && text.contains("n,,n=,r="),
            "{text}"
        );
        // A server-first message with a nonce that does not extend ours is an impostor.
        let err = feed(&mut conn, &auth(11, b"r=other,s=c2FsdA==,i=4096"), false).unwrap_err();
        assert!(matches!(err, DbError::Auth(_)), "{err}");

        let mut conn = PgConnection::new(&config(Some("sesame")));
        let err = feed(&mut conn, &auth(10, b"SCRAM-SHA-256-PLUS\0\0"), false).unwrap_err();
        assert!(
            err.to_string()
                .contains("SCRAM-SHA-256 without channel binding"),
            "{err}"
        );
    }

    #[test]
    fn malformed_answers_are_protocol_errors() {
        let ready_conn = || {
            let mut conn = PgConnection::new(&config(None));
            feed(&mut conn, &[login(), prepared()].concat(), false).unwrap();
            conn.query(&[1]).unwrap();
            conn
        };
        // An int8 column where an int4 was expected.
        let err = feed(&mut ready_conn(), &data_row(&[&[0; 8], &[0; 4]]), false).unwrap_err();
        assert!(
            err.to_string().contains("(id int, randomnumber int)"),
            "{err}"
        );
        let err = feed(&mut ready_conn(), &data_row(&[&[0; 4]]), false).unwrap_err();
        assert!(err.to_string().contains("fewer than two"), "{err}");
        // A length that would make the buffer grow without bound.
        let mut huge = vec![b'D'];
        huge.extend_from_slice(&(1_i32 << 30).to_be_bytes());
        let err = feed(&mut ready_conn(), &huge, false).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
        // A message that has no place here.
        let err = feed(&mut ready_conn(), &auth(0, b""), false).unwrap_err();
        assert!(matches!(err, DbError::Protocol(_)), "{err}");
    }

    proptest::proptest! {
        /// Whatever a server sends — after the login, during a query, in any pieces — the
        /// connection answers with events or a typed error, never a panic.
        #[test]
        fn arbitrary_backend_bytes_never_panic(
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            cut in 0usize..512,
            busy in proptest::bool::ANY,
        ) {
            let mut conn = PgConnection::new(&config(Some("pw")));
            if busy {
                feed(&mut conn, RECORDED_LOGIN, false).unwrap();
                conn.query(&[1, 2]).unwrap();
            }
            let cut = cut.min(noise.len());
            let mut events = Vec::new();
            if conn.received(&noise[..cut], &mut events).is_ok() {
                let _ = conn.received(&noise[cut..], &mut events);
            }
        }

        /// A plausible stream — real messages, shuffled and truncated — is the harder input:
        /// every message parses, but arrives where it has no place.
        #[test]
        fn real_messages_out_of_order_never_panic(
            order in proptest::collection::vec(0usize..12, 0..24),
        ) {
            let pieces = [
                auth(0, b""), auth(3, b""), auth(5, &[1, 2, 3, 4]), auth(10, b"SCRAM-SHA-256\0\0"),
                auth(11, b"r=x,s=c2FsdA==,i=1"), auth(12, b"v=AAAA"), ready(), row(1, 2),
                message(b'1', b""), message(b'2', b""), message(b'C', b"SELECT 1\0"),
                error("ERROR", "42P01", "no"),
            ];
            let mut conn = PgConnection::new(&config(Some("pw")));
            let mut events = Vec::new();
            for i in order {
                if conn.is_idle() {
                    conn.query(&[1]).unwrap();
                }
                if conn.received(&pieces[i], &mut events).is_err() {
                    break;
                }
            }
        }
    }

    #[test]
    fn a_batch_is_bounded() {
        let mut conn = PgConnection::new(&config(None));
        feed(&mut conn, &[login(), prepared()].concat(), false).unwrap();
        conn.written(conn.pending().len());
        assert!(conn.query(&[]).is_err());
        assert!(conn.query(&vec![1; MAX_IDS + 1]).is_err());
        assert!(conn.is_idle(), "a refused batch sends nothing");
        assert!(conn.pending().is_empty());
    }
}

//! A scripted PostgreSQL server for the drivers' tests (feature `script`): a thread on
//! loopback that speaks just enough of the server's side — trust login, Parse, Bind/Execute/Sync
//! answered with `randomnumber = id * 7` — and misbehaves on cue ([`Script`]). The selector's
//! pools and the uring engine's are tested against it, PostgreSQL installed or not.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream as Client};
use std::thread::JoinHandle;

use crate::Config;

/// How the scripted server behaves on each connection it accepts.
#[derive(Clone, Copy, Default)]
pub struct Script {
    /// Writes every answer one byte at a time (each a separate segment, or nearly).
    pub bytewise: bool,
    /// Never answers the startup message.
    pub mute: bool,
    /// Closes the connection on the Nth query's Sync (1-based), without answering it.
    pub close_at: Option<usize>,
    /// Reads queries and never answers them.
    pub hang: bool,
}

fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Serves `connections` connections, one after the other, following `script`, on a free port
/// of 127.0.0.1; returns the client's [`Config`] for it and the server's thread (it ends after
/// the last connection). Panics on what a test should not meet (no free port, a message it
/// does not know).
pub fn server(connections: usize, script: Script) -> (Config, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = Config::parse(&format!("host=127.0.0.1 port={port} user=u")).unwrap();
    let thread = std::thread::spawn(move || {
        for _ in 0..connections {
            let (socket, _) = listener.accept().unwrap();
            serve(socket, script);
        }
    });
    (config, thread)
}

fn serve(mut socket: Client, script: Script) {
    let send = |socket: &mut Client, bytes: &[u8]| -> std::io::Result<()> {
        if script.bytewise {
            for byte in bytes {
                socket.write_all(std::slice::from_ref(byte))?;
            }
            Ok(())
        } else {
            socket.write_all(bytes)
        }
    };
    let mut len = [0; 4];
    if socket.read_exact(&mut len).is_err() {
        return;
    }
    let mut startup = vec![0; i32::from_be_bytes(len) as usize - 4];
    socket.read_exact(&mut startup).unwrap();
    if script.mute {
        // Hold the socket open, silent, until the client gives up.
        let _ = socket.read(&mut [0; 1]);
        return;
    }
    let ready = message(b'Z', b"I");
    if send(
        &mut socket,
        &[message(b'R', &[0; 4]), ready.clone()].concat(),
    )
    .is_err()
    {
        return;
    }
    let (mut ids, mut syncs) = (Vec::new(), 0);
    loop {
        let mut header = [0; 5];
        if socket.read_exact(&mut header).is_err() {
            return;
        }
        let mut body = vec![0; i32::from_be_bytes(header[1..].try_into().unwrap()) as usize - 4];
        socket.read_exact(&mut body).unwrap();
        let answer = match header[0] {
            b'P' => [message(b'1', b""), ready.clone()].concat(),
            // Bind "" "world" [1] [id] [1]: the id is the body's 4 bytes before the
            // result-format count and code.
            b'B' => {
                let at = body.len() - 4 - 4;
                ids.push(i32::from_be_bytes(body[at..at + 4].try_into().unwrap()));
                continue;
            }
            b'E' => continue,
            b'S' if ids.is_empty() => continue, // The Sync behind Parse: answered above.
            b'S' => {
                syncs += 1;
                if script.close_at == Some(syncs) {
                    return;
                }
                if script.hang {
                    ids.clear();
                    continue;
                }
                let mut answer = Vec::new();
                for id in ids.drain(..) {
                    answer.extend(message(b'2', b""));
                    let mut row = 2_i16.to_be_bytes().to_vec();
                    for value in [id, id * 7] {
                        row.extend_from_slice(&4_i32.to_be_bytes());
                        row.extend_from_slice(&value.to_be_bytes());
                    }
                    answer.extend(message(b'D', &row));
                    answer.extend(message(b'C', b"SELECT 1\0"));
                }
                answer.extend(ready.clone());
                answer
            }
            b'X' => return,
            other => panic!("the scripted server got message {:?}", other as char),
        };
        if send(&mut socket, &answer).is_err() {
            return;
        }
    }
}

/// The rows the scripted server answers for `ids`: `(id, id * 7)` each.
pub fn rows(ids: &[i32]) -> Vec<(i32, i32)> {
    ids.iter().map(|&id| (id, id * 7)).collect()
}

//! nginx, the C reference, for the examples that stand the engines beside it: one worker,
//! `/hello` answered like the engines, from a temporary folder, pinned to one CPU.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use wb_sys::affinity::pin_before_exec;
use wb_sys::process::{Pid, SIGQUIT};

/// nginx with one worker, serving `/hello` like the engines, from a temporary folder,
/// pinned to the server's CPU.
pub struct Nginx {
    child: Child,
    /// The master's process id (its worker is its child).
    pub pid: u32,
    /// Where it listens: `127.0.0.1:PORT`.
    pub addr: String,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx pinned to `cpu`, and waits until its port accepts.
    pub fn start(cpu: usize) -> anyhow::Result<Nginx> {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .context("nginx is not installed (apt-get install nginx-light)")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("workbench-nginx-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "worker_processes 1;\nuser root;\ndaemon off;\npid {d}/nginx.pid;\nerror_log stderr warn;\n\
                 events {{ worker_connections 16384; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d};\n  proxy_temp_path {d};\n\
                   fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n  scgi_temp_path {d};\n\
                   keepalive_requests 1000000;\n\
                   server {{\n    listen 127.0.0.1:{port} backlog=4096;\n    default_type text/plain;\n\
                     location = /hello {{ return 200 \"Hello, World!\"; }}\n  }}\n}}\n"
            ),
        )?;
        let mut command = Command::new(binary);
        pin_before_exec(&mut command, cpu);
        let child = command
            .arg("-c")
            .arg(&conf)
            .stderr(Stdio::piped())
            .spawn()?;
        let pid = child.id();
        let addr = format!("127.0.0.1:{port}");
        // Ready when the port accepts.
        for _ in 0..100 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(Nginx {
                    child,
                    pid,
                    addr,
                    dir,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut nginx = Nginx {
            child,
            pid,
            addr,
            dir,
        };
        let mut log = String::new();
        if let Some(stderr) = nginx.child.stderr.take() {
            for line in BufReader::new(stderr).lines().take(5).map_while(Result::ok) {
                log.push_str(&line);
                log.push('\n');
            }
        }
        anyhow::bail!("nginx did not start listening:\n{log}")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Our own unreaped child.
        let _ = wb_sys::process::signal(self.pid as Pid, SIGQUIT);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

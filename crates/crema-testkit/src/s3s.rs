//! A real, signature-checking S3 server for the tests: `s3s-fs` 0.14.1
//! (SigV4 headers and presigned URLs, multipart), installed by
//! `scripts/setup.sh` into `${CREMA_TOOLS:-$HOME/.cache/crema/tools}/bin/`.
//! Each [`S3sFs`] runs its own server on a free loopback port with random
//! keys over a temp folder (the bucket is a folder in it) and is killed on
//! drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bucket every test server has.
pub const BUCKET: &str = "crema-test";

/// Where setup installs the binary.
pub fn binary() -> PathBuf {
    let tools = std::env::var_os("CREMA_TOOLS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is not set")).join(".cache/crema/tools")
    });
    let bin = tools.join("bin/s3s-fs");
    assert!(
        bin.is_file(),
        "s3s-fs is missing at {}: run scripts/setup.sh (scripts/test.sh does), or \
         `cargo install s3s-fs --version 0.14.1 --features binary --locked --root {}`",
        bin.display(),
        tools.display()
    );
    bin
}

/// A running `s3s-fs`.
pub struct S3sFs {
    child: Child,
    /// Its loopback port.
    pub port: u16,
    /// The access key id it accepts.
    pub access_key: String,
    /// The secret it checks signatures with.
    pub secret_key: String,
    dir: tempfile::TempDir,
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).unwrap();
    hex::encode(b)
}

impl S3sFs {
    /// Starts a server and waits until it answers HTTP (at most 10 s). The
    /// free port is picked before the server binds it: when the server
    /// exits at once (the port was taken meanwhile), another port is tried.
    pub fn start() -> S3sFs {
        let bin = binary();
        let mut dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let (access_key, secret_key) = (format!("AK{}", random_hex(8)).to_uppercase(), random_hex(20));
        for attempt in 1..=3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let log = std::fs::File::create(dir.path().join("s3s-fs.log")).unwrap();
            let child = Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", &access_key, "--secret-key", &secret_key])
                .arg(&root)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut s = S3sFs { child, port, access_key: access_key.clone(), secret_key: secret_key.clone(), dir };
            match s.wait_ready() {
                Ok(()) => return s,
                Err(why) if attempt < 3 => {
                    eprintln!("s3s-fs on port {port}: {why}; trying another port");
                    dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
                }
                Err(why) => panic!("s3s-fs did not start: {why}"),
            }
        }
        unreachable!()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited with {status}: {}", self.log()));
            }
            if let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
                let mut head = [0u8; 12];
                if c.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 ") {
                    return Ok(()); // any status: it answers (unsigned requests get 403)
                }
            }
            if Instant::now() > deadline {
                return Err(format!("no answer within 10 s: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("s3s-fs.log")).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `s3://crema-test/PREFIX?endpoint=ENDPOINT&region=auto`: the object
    /// store URL of `crema serve --object-store` for a server at `endpoint`
    /// (this one's, or a proxy's in front of it).
    pub fn url_at(endpoint: &str, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}?endpoint={endpoint}&region=auto")
    }

    /// The file in which the server stores the object with full bucket key `full_key`.
    pub fn stored_file(&self, full_key: &str) -> PathBuf {
        self.dir.path().join("root").join(BUCKET).join(full_key)
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

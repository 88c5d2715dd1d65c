//! A real headless Chromium driven over WebDriver: `chromedriver` (Debian's `chromium-driver`)
//! started on a free port, spoken to in plain HTTP/1.1 JSON — no crate that downloads drivers.
//! `scripts/setup` installs `chromium-headless-shell` and `chromium-driver`; without them the tests
//! fail saying so (CI must run them, never skip them).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Reaped;

/// The browser binaries Debian installs, first found wins. The real binaries come first:
/// `/usr/bin/chromium-headless-shell` is a shell wrapper that runs the browser as its child,
/// so chromedriver's quit would stop the wrapper and leave the browser running.
const BROWSERS: &[&str] = &[
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/lib/chromium/headless_shell",
    "/usr/bin/chromium-headless-shell",
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
];

/// A chromedriver process and one browser session; both end on drop, and so does every
/// process chromedriver started (it does not always take the browser with it when stopped).
pub struct Browser {
    port: u16,
    session: String,
    driver: Option<Reaped>,
}

/// Every process descending from `root` (by parent ids in /proc).
fn descendants(root: u32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let pid = e.file_name().to_str()?.parse::<i32>().ok()?;
                    let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
                    // `pid (comm) state ppid …`: comm may hold spaces, so split after ')'.
                    let after = stat.rsplit_once(')')?.1;
                    let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
                    Some((pid, ppid))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut found = vec![root as i32];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// Stops chromedriver and everything it started.
fn stop_driver(driver: Reaped) {
    let family = descendants(driver.0.id());
    drop(driver);
    kill_all(&family);
}

fn kill_all(pids: &[i32]) {
    for &pid in pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.exists())
    })
}

/// One WebDriver call: `method path` with an optional JSON body; the answer's `value`.
fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the connection closed before an answer".into());
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    let mut body = raw[head_end + 4..].to_vec();
    match length {
        Some(len) => {
            while body.len() < len {
                let n = s.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&buf[..n]);
            }
        }
        None => {
            s.read_to_end(&mut body).map_err(|e| e.to_string())?;
        }
    }
    let body = String::from_utf8_lossy(&body).to_string();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if status != 200 {
        return Err(format!("{method} {path}: {status} {v}"));
    }
    Ok(v["value"].clone())
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

impl Browser {
    /// Starts chromedriver and a headless browser (`--no-sandbox`: tests run as root).
    pub fn start() -> Browser {
        let driver = which("chromedriver").unwrap_or_else(|| {
            panic!(
                "chromedriver not found: install Debian's chromium-driver and \
                 chromium-headless-shell (`scripts/setup` does)"
            )
        });
        let binary = BROWSERS
            .iter()
            .find(|b| std::path::Path::new(b).exists())
            .unwrap_or_else(|| {
                panic!("no headless Chromium among {BROWSERS:?}: install chromium-headless-shell")
            });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Reaped(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while call(port, "GET", "/status", None).map_or(true, |v| v["ready"] != true) {
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1800"]
            }
        }}});
        let started = call(port, "POST", "/session", Some(&caps));
        let session = match started {
            Ok(v) => v["sessionId"].as_str().expect("a session id").to_string(),
            Err(e) => {
                stop_driver(driver);
                panic!("no browser session: {e}");
            }
        };
        Browser {
            port,
            session,
            driver: Some(driver),
        }
    }

    fn at(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        call(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        )
    }

    /// Navigates to `url` (and waits for it to load).
    pub fn go(&self, url: &str) {
        self.at("POST", "/url", Some(json!({ "url": url })))
            .expect("navigation");
    }

    /// How many elements match a CSS selector.
    pub fn count(&self, css: &str) -> usize {
        self.at(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .map_or(0, |v| v.as_array().map_or(0, Vec::len))
    }

    /// The visible text of the first element matching a CSS selector. Found and read in one
    /// script, so that the page's live updates cannot replace the element between the two
    /// (a find, then a read by WebDriver reference, failed as stale under load).
    pub fn text(&self, css: &str) -> Option<String> {
        self.at(
            "POST",
            "/execute/sync",
            Some(json!({
                "script": "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                "args": [css],
            })),
        )
        .ok()?
        .as_str()
        .map(str::to_string)
    }

    /// Runs `script` in the page; its return value.
    pub fn run(&self, script: &str) -> Value {
        self.at(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .expect("the script runs")
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let v = self.at("GET", "/screenshot", None).expect("a screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 text"))
            .expect("valid base64")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The family first: once the session ends, what it leaves behind has no parent to find.
        let family = self
            .driver
            .as_ref()
            .map(|d| descendants(d.0.id()))
            .unwrap_or_default();
        let _ = self.at("DELETE", "", None);
        if let Some(driver) = self.driver.take() {
            stop_driver(driver);
        }
        kill_all(&family);
    }
}

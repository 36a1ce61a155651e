//! The live web view (`--http ADDR:PORT`) on `std::net`: one thread per client.
//!
//! | path | what |
//! |---|---|
//! | `/` | a small page: the overlay stream and live stats |
//! | `/stream.mjpg` | the overlays as `multipart/x-mixed-replace` JPEGs (a boundary before every frame) |
//! | `/pose` | the latest pose (one JSON Lines record) |
//! | `/events` | server-sent events: `pose` (each record) and `stats` (every second or so) |
//! | `/health` | `{"status": "ok", ...}` with the stream's counters |
//!
//! A slow client never stalls inference: the outputs thread hands each client's thread a frame
//! through a queue of [`CLIENT_QUEUE`] entries and drops frames for a client whose queue is
//! full; a client that stops reading for [`WRITE_TIMEOUT`] is disconnected. Requests are read
//! with a timeout and a size limit: junk → 400, other methods → 405, unknown paths → 404,
//! headers over [`MAX_REQUEST_BYTES`] → 431, more than [`MAX_CLIENTS`] → 503. A request head
//! must arrive whole within [`READ_TIMEOUT`] (a client trickling bytes is cut off then, 408).
//!
//! `/health` is for watchdogs: it has its own [`MAX_PROBES`] connections beside the clients'
//! slots, so viewers or stalled connections holding every slot do not make it fail, and its
//! `status` is `stale` (HTTP 503) when no frame came for [`STALE_AFTER`].

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CLIENT_QUEUE: usize = 2;
pub const MAX_REQUEST_BYTES: usize = 8192;
pub const MAX_CLIENTS: usize = 32;
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections beyond the clients' slots that may still ask for `/health`.
pub const MAX_PROBES: usize = 8;
/// How long a probe connection may take to send its request.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// `/health` says `stale` when the last frame is older than this.
pub const STALE_AFTER: Duration = Duration::from_secs(5);
const BOUNDARY: &str = "lmframe";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mjpeg,
    Events,
}

struct Subscriber {
    kind: Kind,
    tx: SyncSender<Arc<Vec<u8>>>,
}

/// What the outputs thread publishes and the client threads serve.
pub struct Hub {
    subscribers: Mutex<Vec<Subscriber>>,
    latest_pose: Mutex<Option<Arc<String>>>,
    latest_jpeg: Mutex<Option<Arc<Vec<u8>>>>,
    stats_json: Mutex<String>,
    stopped: AtomicBool,
    clients: AtomicUsize,
    /// Connections past the clients' slots being read for a `/health` request.
    probes: AtomicUsize,
    /// Frames not sent to some client because its queue was full.
    skipped: AtomicUsize,
    started: Instant,
    /// When the last pose was published.
    last_frame: Mutex<Option<Instant>>,
    stale_after: Duration,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            subscribers: Mutex::new(vec![]),
            latest_pose: Mutex::new(None),
            latest_jpeg: Mutex::new(None),
            stats_json: Mutex::new("null".into()),
            stopped: AtomicBool::new(false),
            clients: AtomicUsize::new(0),
            skipped: AtomicUsize::new(0),
            started: Instant::now(),
            probes: AtomicUsize::new(0),
            last_frame: Mutex::new(None),
            stale_after: STALE_AFTER,
        }
    }
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    /// A hub whose `/health` turns `stale` after `stale_after` without a frame (tests).
    pub fn with_stale_after(stale_after: Duration) -> Arc<Hub> {
        Arc::new(Hub {
            stale_after,
            ..Hub::default()
        })
    }

    /// `/health`'s status and body: `ok` while frames come (or during the first
    /// `stale_after` before any), else `stale` with HTTP 503.
    fn health(&self) -> (&'static str, String) {
        let age = self.last_frame.lock().unwrap().map(|t| t.elapsed());
        let fresh = match age {
            Some(a) => a <= self.stale_after,
            None => self.started.elapsed() <= self.stale_after,
        };
        let (status, word) = match (fresh, age) {
            (true, Some(_)) => ("200 OK", "ok"),
            (true, None) => ("200 OK", "starting"),
            (false, _) => ("503 Service Unavailable", "stale"),
        };
        let age = age.map_or("null".into(), |a| format!("{:.3}", a.as_secs_f64()));
        let body = format!(
            "{{\"status\":\"{word}\",\"last_frame_age_s\":{age},\"uptime_s\":{:.3},\"clients\":{},\"skipped_for_slow_clients\":{},\"stats\":{}}}\n",
            self.started.elapsed().as_secs_f64(),
            self.clients.load(Ordering::SeqCst),
            self.skipped(),
            self.stats_json.lock().unwrap()
        );
        (status, body)
    }

    fn subscribe(&self, kind: Kind) -> Receiver<Arc<Vec<u8>>> {
        let (tx, rx) = sync_channel(CLIENT_QUEUE);
        self.subscribers
            .lock()
            .unwrap()
            .push(Subscriber { kind, tx });
        rx
    }

    fn publish(&self, kind: Kind, item: Arc<Vec<u8>>) {
        self.subscribers.lock().unwrap().retain(|s| {
            if s.kind != kind {
                return true;
            }
            match s.tx.try_send(item.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            }
        });
    }

    /// Whether any client watches the overlay stream (the JPEG is encoded only then).
    pub fn wants_jpeg(&self) -> bool {
        self.subscribers
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.kind == Kind::Mjpeg)
    }

    pub fn publish_jpeg(&self, jpeg: Vec<u8>) {
        let jpeg = Arc::new(jpeg);
        *self.latest_jpeg.lock().unwrap() = Some(jpeg.clone());
        self.publish(Kind::Mjpeg, jpeg);
    }

    /// A pose record (one JSON object): `/pose` and a `pose` event.
    pub fn publish_pose(&self, json: String) {
        let event = Arc::new(format!("event: pose\ndata: {json}\n\n").into_bytes());
        *self.latest_pose.lock().unwrap() = Some(Arc::new(json));
        *self.last_frame.lock().unwrap() = Some(Instant::now());
        self.publish(Kind::Events, event);
    }

    /// The stream's counters (a JSON object): `/health` and a `stats` event.
    pub fn publish_stats(&self, json: String) {
        let event = Arc::new(format!("event: stats\ndata: {json}\n\n").into_bytes());
        *self.stats_json.lock().unwrap() = json;
        self.publish(Kind::Events, event);
    }

    /// Frames not delivered to slow clients.
    pub fn skipped(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Ends every client's stream.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.subscribers.lock().unwrap().clear();
    }
}

/// A running server.
pub struct HttpServer {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
}

impl HttpServer {
    /// Binds `addr` (e.g. `0.0.0.0:8080`, or port 0 for any) and serves `hub` from a thread.
    pub fn start(addr: &str, hub: Arc<Hub>) -> Result<HttpServer> {
        if addr.parse::<u16>().is_ok() {
            anyhow::bail!(
                "--http {addr}: give ADDR:PORT, e.g. 127.0.0.1:{addr} (this machine only) or \
                 0.0.0.0:{addr} (every interface: no authentication)"
            );
        }
        let listener = TcpListener::bind(addr)
            .with_context(|| format!("cannot listen on {addr} (--http ADDR:PORT)"))?;
        let local = listener.local_addr()?;
        let h = hub.clone();
        std::thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || accept_loop(listener, h))?;
        Ok(HttpServer { addr: local, hub })
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.hub.stop();
        // Wake the accept loop so that it sees `stopped`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn accept_loop(listener: TcpListener, hub: Arc<Hub>) {
    for conn in listener.incoming() {
        if hub.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = conn else { continue };
        if hub.clients.load(Ordering::SeqCst) >= MAX_CLIENTS {
            // Every slot is taken: a health check still gets through, on its own budget.
            if hub.probes.load(Ordering::SeqCst) < MAX_PROBES {
                hub.probes.fetch_add(1, Ordering::SeqCst);
                let h = hub.clone();
                let spawned =
                    std::thread::Builder::new()
                        .name("http-probe".into())
                        .spawn(move || {
                            let _ = serve_probe(stream, &h);
                            h.probes.fetch_sub(1, Ordering::SeqCst);
                        });
                if spawned.is_err() {
                    hub.probes.fetch_sub(1, Ordering::SeqCst);
                }
                continue;
            }
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = respond(
                &mut stream,
                "503 Service Unavailable",
                "text/plain",
                b"too many clients\n",
            );
            continue;
        }
        hub.clients.fetch_add(1, Ordering::SeqCst);
        let h = hub.clone();
        let spawned = std::thread::Builder::new()
            .name("http-client".into())
            .spawn(move || {
                let _ = serve(stream, &h);
                h.clients.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            hub.clients.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// A connection past the clients' slots: `/health` (GET or HEAD) is answered, anything else
/// gets 503.
fn serve_probe(mut stream: TcpStream, hub: &Hub) -> std::io::Result<()> {
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    let head = read_request(&mut Deadline::new(&stream, PROBE_TIMEOUT)).unwrap_or_default();
    if route(&head) == Ok(Route::Health) {
        let (status, body) = hub.health();
        let with_body = !is_head(&head);
        return respond_with(
            &mut stream,
            status,
            "application/json",
            body.as_bytes(),
            CORS,
            with_body,
        );
    }
    respond(
        &mut stream,
        "503 Service Unavailable",
        "text/plain",
        b"too many clients\n",
    )
}

/// Reads from a stream until a deadline for the whole: each read waits only for the time left,
/// so a client sending a byte now and then cannot hold the connection.
struct Deadline<'a> {
    stream: &'a TcpStream,
    until: Instant,
}

impl<'a> Deadline<'a> {
    fn new(stream: &'a TcpStream, within: Duration) -> Deadline<'a> {
        Deadline {
            stream,
            until: Instant::now() + within,
        }
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut s = self.stream;
        s.read(buf)
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    respond_with(stream, status, content_type, body, "", true)
}

/// A whole response; `extra` holds more header lines (each ending in CRLF); without `body`
/// (a `HEAD`) only the head goes out, with the length the body would have.
fn respond_with(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    extra: &str,
    with_body: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if with_body {
        stream.write_all(body)?;
    }
    stream.flush()
}

/// Lets a page served from elsewhere (a dashboard) read the JSON endpoints. They are read-only;
/// the server has no authentication at all (README: `--http 0.0.0.0` exposes it to the network).
const CORS: &str = "Access-Control-Allow-Origin: *\r\n";

/// Reads the request head from a client; `Err(status)` for a request to refuse, `Err("")`
/// when the client closed before sending a whole head (nothing to answer).
pub fn read_request(stream: &mut impl Read) -> std::result::Result<String, &'static str> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find_head_end(&buf) {
            buf.truncate(end);
            break;
        }
        if buf.len() > MAX_REQUEST_BYTES {
            return Err("431 Request Header Fields Too Large");
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(""), // closed before a whole request: nothing to answer
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err("408 Request Timeout"),
        }
    }
    if buf.len() > MAX_REQUEST_BYTES {
        return Err("431 Request Header Fields Too Large");
    }
    String::from_utf8(buf).map_err(|_| "400 Bad Request")
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buf.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `Ok(path)` of a well-formed `GET` or `HEAD`, else the status to answer (a 405 is answered
/// with `Allow: GET, HEAD`).
pub fn parse_request_line(head: &str) -> std::result::Result<&str, &'static str> {
    let line = head.lines().next().unwrap_or("");
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err("400 Bad Request");
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') || method.is_empty() {
        return Err("400 Bad Request");
    }
    if !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("400 Bad Request");
    }
    if method != "GET" && method != "HEAD" {
        return Err("405 Method Not Allowed");
    }
    Ok(target.split('?').next().unwrap_or(target))
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Page,
    Health,
    Pose,
    Mjpeg,
    Events,
    NotFound,
}

/// Whether the request is a `HEAD`: answered with the `GET`'s status and headers, no body.
pub fn is_head(head: &str) -> bool {
    head.starts_with("HEAD ")
}

/// The route of a request head, or the status to answer.
pub fn route(head: &str) -> std::result::Result<Route, &'static str> {
    Ok(match parse_request_line(head)? {
        "/" | "/index.html" => Route::Page,
        "/health" => Route::Health,
        "/pose" => Route::Pose,
        "/stream.mjpg" => Route::Mjpeg,
        "/events" => Route::Events,
        _ => Route::NotFound,
    })
}

fn serve(mut stream: TcpStream, hub: &Hub) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let _ = stream.set_nodelay(true);
    let head = match read_request(&mut Deadline::new(&stream, READ_TIMEOUT)) {
        Ok(h) => h,
        Err("") => return Ok(()),
        Err(status) => {
            return respond(
                &mut stream,
                status,
                "text/plain",
                format!("{status}\n").as_bytes(),
            )
        }
    };
    let route = match route(&head) {
        Ok(r) => r,
        Err(status) => {
            let allow = if status.starts_with("405") {
                "Allow: GET, HEAD\r\n"
            } else {
                ""
            };
            let body = format!("{status}\n");
            return respond_with(
                &mut stream,
                status,
                "text/plain",
                body.as_bytes(),
                allow,
                true,
            );
        }
    };
    let body = !is_head(&head);
    match route {
        Route::Page => respond_with(
            &mut stream,
            "200 OK",
            "text/html; charset=utf-8",
            PAGE.as_bytes(),
            "",
            body,
        ),
        Route::Health => {
            let (status, health) = hub.health();
            respond_with(
                &mut stream,
                status,
                "application/json",
                health.as_bytes(),
                CORS,
                body,
            )
        }
        Route::Pose => {
            let pose = hub.latest_pose.lock().unwrap().clone();
            let (status, json) = match pose {
                Some(p) => ("200 OK", format!("{p}\n")),
                None => (
                    "503 Service Unavailable",
                    "{\"error\":\"no pose yet\"}\n".into(),
                ),
            };
            respond_with(
                &mut stream,
                status,
                "application/json",
                json.as_bytes(),
                CORS,
                body,
            )
        }
        Route::Mjpeg | Route::Events if !body => {
            // The head of the stream a GET would get, without the stream.
            stream.write_all(stream_head(route).as_bytes())?;
            stream.flush()
        }
        Route::Mjpeg => serve_mjpeg(stream, hub),
        Route::Events => serve_events(stream, hub),
        Route::NotFound => respond_with(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"404 Not Found\n",
            "",
            body,
        ),
    }
}

fn write_part(stream: &mut TcpStream, jpeg: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        jpeg.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(jpeg)?;
    stream.write_all(b"\r\n")?;
    stream.flush()
}

/// The response head of a stream route (`GET` and `HEAD` alike).
fn stream_head(route: Route) -> String {
    match route {
        Route::Mjpeg => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary={BOUNDARY}\r\n\
             Cache-Control: no-cache, no-store\r\nPragma: no-cache\r\nConnection: close\r\n\r\n"
        ),
        _ => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
             {CORS}Connection: close\r\n\r\n"
        ),
    }
}

fn serve_mjpeg(mut stream: TcpStream, hub: &Hub) -> std::io::Result<()> {
    let rx = hub.subscribe(Kind::Mjpeg);
    stream.write_all(stream_head(Route::Mjpeg).as_bytes())?;
    // The latest overlay at once, so that a new viewer does not wait for the next frame.
    let latest = hub.latest_jpeg.lock().unwrap().clone();
    if let Some(jpeg) = latest {
        write_part(&mut stream, &jpeg)?;
    }
    while !hub.stopped.load(Ordering::SeqCst) {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(jpeg) => write_part(&mut stream, &jpeg)?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(())
}

fn serve_events(mut stream: TcpStream, hub: &Hub) -> std::io::Result<()> {
    let rx = hub.subscribe(Kind::Events);
    stream.write_all(stream_head(Route::Events).as_bytes())?;
    stream.write_all(b": lm stream events\n\n")?;
    // The current counters at once: a new client need not wait for the next second's.
    let stats = hub.stats_json.lock().unwrap().clone();
    if stats != "null" {
        stream.write_all(format!("event: stats\ndata: {stats}\n\n").as_bytes())?;
    }
    stream.flush()?;
    let mut last_write = Instant::now();
    while !hub.stopped.load(Ordering::SeqCst) {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(event) => {
                stream.write_all(&event)?;
                stream.flush()?;
                last_write = Instant::now();
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                // A comment now and then finds clients that went away.
                if last_write.elapsed() > Duration::from_secs(10) {
                    stream.write_all(b": keepalive\n\n")?;
                    last_write = Instant::now();
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(())
}

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>lm stream</title>
<style>body{font-family:sans-serif;background:#111;color:#eee;margin:1em}
img{max-width:100%;border:1px solid #444}#stats{font-family:monospace;white-space:pre}</style>
</head><body>
<h1>lm stream</h1>
<img id="view" src="/stream.mjpg" alt="pose overlay stream">
<div id="stats">waiting for frames…</div>
<div id="pose"></div>
<script>
const es = new EventSource('/events');
let s = null, p = null;
function show() {
  const st = document.getElementById('stats');
  let t = '';
  if (s) t += `capture ${s.capture_fps.toFixed(1)} fps · inference ${s.inference_fps.toFixed(1)} fps · ` +
    `end-to-end ${s.end_to_end_fps.toFixed(1)} fps\ndropped ${s.dropped} · corrupt ${s.corrupt} · ` +
    `latency p50/p95/p99 ${s.latency_p50_ms}/${s.latency_p95_ms}/${s.latency_p99_ms} ms\n`;
  if (p) t += `frame ${p.frame}: ${p.keypoints.filter(k => k.visible).length} visible joints, ` +
    `latency ${(p.latency * 1000).toFixed(1)} ms`;
  st.textContent = t;
}
es.addEventListener('stats', e => { s = JSON.parse(e.data); show(); });
es.addEventListener('pose', e => { p = JSON.parse(e.data); show(); });
</script>
</body></html>
"#;

#[cfg(test)]
mod tests {
    use super::{parse_request_line, read_request, route, Route, MAX_REQUEST_BYTES};

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_request_line("GET /pose?x=1 HTTP/1.1\r\nHost: a"),
            Ok("/pose")
        );
        assert_eq!(
            parse_request_line("POST / HTTP/1.1"),
            Err("405 Method Not Allowed")
        );
        assert_eq!(parse_request_line("HEAD /health HTTP/1.1"), Ok("/health"));
        for junk in [
            "",
            "GET",
            "GET /",
            "\u{1}\u{2} / HTTP/1.1",
            "GET pose HTTP/1.1",
            "GET / SPDY/3",
            "get / HTTP/1.1",
        ] {
            assert_eq!(parse_request_line(junk), Err("400 Bad Request"), "{junk:?}");
        }
    }

    #[test]
    fn request_heads_and_routes() {
        let read = |bytes: &[u8]| read_request(&mut std::io::Cursor::new(bytes.to_vec()));
        // CRLF or bare LF heads; what follows the head is not read into it.
        let head = read(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\nbody").unwrap();
        assert_eq!(head, "GET /health HTTP/1.1\r\nHost: a");
        assert_eq!(route(&head), Ok(Route::Health));
        let head = read(b"GET /stream.mjpg?t=1 HTTP/1.0\n\n").unwrap();
        assert_eq!(route(&head), Ok(Route::Mjpeg));
        assert_eq!(route("GET /nope HTTP/1.1"), Ok(Route::NotFound));
        assert_eq!(route("PUT / HTTP/1.1"), Err("405 Method Not Allowed"));
        // A client that closes half-way: nothing to answer.
        assert_eq!(read(b"GET / HTTP/1.1\r\nHost"), Err(""));
        // An endless head is refused once past the limit, not buffered without bound.
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(4 * MAX_REQUEST_BYTES, b'a');
        assert_eq!(read(&big), Err("431 Request Header Fields Too Large"));
        assert_eq!(
            read(b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n"),
            Err("400 Bad Request")
        );
    }
}

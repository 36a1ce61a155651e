//! `lm stream`'s web view over loopback with a plain HTTP client (TcpStream): MJPEG framing
//! parsed back into JPEGs that decode, the JSON endpoints, bad requests, and clients that
//! stall or disconnect while another keeps receiving frames.

use lm::stream::http::{HttpServer, Hub, MAX_REQUEST_BYTES};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn frame_jpeg(i: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, i as u8])
    });
    let mut out = vec![];
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&img)
        .unwrap();
    out
}

/// A server fed with a new JPEG and pose every 10 ms until dropped.
struct Feeder {
    server: Option<HttpServer>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Feeder {
    fn start() -> Feeder {
        let server = HttpServer::start("127.0.0.1:0", Hub::new()).unwrap();
        let hub = server.hub.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut i = 0;
            while !s.load(Ordering::SeqCst) {
                if hub.wants_jpeg() {
                    hub.publish_jpeg(frame_jpeg(i));
                }
                hub.publish_pose(format!("{{\"frame\":{i},\"keypoints\":[]}}"));
                if i.is_multiple_of(10) {
                    hub.publish_stats(format!("{{\"frames_output\":{i}}}"));
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Feeder {
            server: Some(server),
            stop,
            thread: Some(thread),
        }
    }
    fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().addr
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.server.take();
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// (status line, headers, body) of a whole (Connection: close) response.
fn get_raw(addr: SocketAddr, request: &[u8]) -> (String, String, Vec<u8>) {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    let mut all = vec![];
    s.read_to_end(&mut all).unwrap();
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("CRLF CRLF after headers");
    let head = String::from_utf8(all[..end].to_vec()).unwrap();
    let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    (
        status.to_string(),
        headers.to_string(),
        all[end + 4..].to_vec(),
    )
}

fn get(addr: SocketAddr, path: &str) -> (String, String, Vec<u8>) {
    get_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

/// Reads the multipart head and then `n` parts, checking the framing byte for byte.
fn read_parts(r: &mut BufReader<TcpStream>, n: usize) -> Vec<Vec<u8>> {
    let mut parts = vec![];
    for _ in 0..n {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "--lmframe\r\n", "a boundary before every part");
        let mut len = None;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            assert!(h.ends_with("\r\n"), "header line without CRLF: {h:?}");
            if h == "\r\n" {
                break;
            }
            let (k, v) = h.trim_end().split_once(": ").unwrap();
            match k {
                "Content-Type" => assert_eq!(v, "image/jpeg"),
                "Content-Length" => len = Some(v.parse::<usize>().unwrap()),
                other => panic!("unexpected part header {other}"),
            }
        }
        let mut body = vec![0; len.expect("Content-Length")];
        r.read_exact(&mut body).unwrap();
        let mut crlf = [0; 2];
        r.read_exact(&mut crlf).unwrap();
        assert_eq!(&crlf, b"\r\n");
        parts.push(body);
    }
    parts
}

fn open_mjpeg(addr: SocketAddr) -> BufReader<TcpStream> {
    let mut s = connect(addr);
    s.write_all(b"GET /stream.mjpg HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        assert!(l.ends_with("\r\n"), "{l:?}");
        if l == "\r\n" {
            break;
        }
        head.push_str(&l);
    }
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: multipart/x-mixed-replace; boundary=lmframe\r\n"),
        "{head}"
    );
    r
}

#[test]
fn mjpeg_parts_decode_and_survive_stalled_and_leaving_clients() {
    let feeder = Feeder::start();
    let addr = feeder.addr();
    let mut watcher = open_mjpeg(addr);
    for (i, jpeg) in read_parts(&mut watcher, 3).iter().enumerate() {
        let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
            .unwrap_or_else(|e| panic!("part {i}: {e}"));
        assert_eq!((img.width(), img.height()), (64, 48));
    }

    // A client that never reads (its socket buffers fill, then its queue), and clients that
    // read a part and hang up, or hang up at once.
    let mut stalled = connect(addr);
    stalled
        .write_all(b"GET /stream.mjpg HTTP/1.1\r\n\r\n")
        .unwrap();
    for _ in 0..5 {
        let mut leaver = open_mjpeg(addr);
        read_parts(&mut leaver, 1);
        drop(leaver);
        let mut quick = connect(addr);
        quick
            .write_all(b"GET /stream.mjpg HTTP/1.1\r\n\r\n")
            .unwrap();
        drop(quick);
    }
    // The watcher keeps getting fresh frames at the feeder's rate (~100/s) for 2 s.
    let t = Instant::now();
    let parts = read_parts(&mut watcher, 100);
    let secs = t.elapsed().as_secs_f64();
    assert!(secs < 5.0, "100 frames took {secs} s with a stalled client");
    let last = image::load_from_memory(parts.last().unwrap())
        .unwrap()
        .to_rgb8();
    assert_eq!(last.width(), 64);
    let (status, _, body) = get(addr, "/health");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert!(health["clients"].as_u64().unwrap() >= 2, "{health}");
    drop(stalled);
}

#[test]
fn json_endpoints_events_and_page() {
    let feeder = Feeder::start();
    let addr = feeder.addr();
    std::thread::sleep(Duration::from_millis(50));
    let (status, headers, body) = get(addr, "/pose");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("Content-Type: application/json"));
    let pose: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(pose["frame"].as_u64().is_some(), "{pose}");

    let (status, _, body) = get(addr, "/health");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert!(
        health["stats"]["frames_output"].as_u64().is_some(),
        "{health}"
    );

    let (status, headers, body) = get(addr, "/");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("text/html"));
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("src=\"/stream.mjpg\"") && page.contains("EventSource('/events')"));

    // Server-sent events: pose events carry the published JSON.
    let mut s = connect(addr);
    s.write_all(b"GET /events HTTP/1.1\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        r.read_line(&mut head).unwrap();
    }
    assert!(head.contains("Content-Type: text/event-stream"), "{head}");
    let (mut poses, mut stats) = (0, 0);
    let mut event = String::new();
    while poses < 5 || stats < 1 {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        if let Some(name) = l.strip_prefix("event: ") {
            event = name.trim().to_string();
        } else if let Some(data) = l.strip_prefix("data: ") {
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            match event.as_str() {
                "pose" => {
                    assert!(v["frame"].is_u64());
                    poses += 1
                }
                "stats" => stats += 1,
                other => panic!("event {other}"),
            }
        }
    }
}

#[test]
fn pose_before_any_frame_is_503() {
    let server = HttpServer::start("127.0.0.1:0", Hub::new()).unwrap();
    let (status, _, body) = get(server.addr, "/pose");
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    assert!(String::from_utf8(body).unwrap().contains("no pose yet"));
}

#[test]
fn junk_unknown_and_oversize_requests_are_refused_and_the_stream_goes_on() {
    let feeder = Feeder::start();
    let addr = feeder.addr();
    let mut watcher = open_mjpeg(addr);
    read_parts(&mut watcher, 1);
    let status = |req: &[u8]| get_raw(addr, req).0;
    assert_eq!(
        status(b"\x16\x03\x01\x02\x00junk\r\n\r\n"),
        "HTTP/1.1 400 Bad Request"
    );
    assert_eq!(status(b"GET nothing\r\n\r\n"), "HTTP/1.1 400 Bad Request");
    assert_eq!(
        status(b"POST /pose HTTP/1.1\r\n\r\n"),
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert_eq!(get(addr, "/nope").0, "HTTP/1.1 404 Not Found");
    let mut big = b"GET / HTTP/1.1\r\n".to_vec();
    while big.len() <= MAX_REQUEST_BYTES + 100 {
        big.extend(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    big.extend(b"\r\n");
    assert_eq!(status(&big), "HTTP/1.1 431 Request Header Fields Too Large");
    // A client that connects and says nothing, and one that hangs up mid-request.
    let _silent = connect(addr);
    let mut half = connect(addr);
    half.write_all(b"GET /stre").unwrap();
    drop(half);
    let frames = read_parts(&mut watcher, 20);
    assert_eq!(frames.len(), 20);
}

/// curl, the client people point at these endpoints (skipped with a note where it is missing).
fn curl(args: &[&str]) -> Option<String> {
    let out = match std::process::Command::new("curl").args(args).output() {
        Ok(o) => o,
        Err(_) => {
            eprintln!("note: curl is not installed: its half of this test is skipped");
            return None;
        }
    };
    assert!(out.status.success(), "curl {args:?}: {out:?}");
    Some(String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"))
}

#[test]
fn head_requests_get_the_get_head_without_a_body() {
    let f = Feeder::start();
    std::thread::sleep(Duration::from_millis(100));
    for path in ["/health", "/pose", "/", "/nope"] {
        let (status, headers, body) = get_raw(
            f.addr(),
            format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        let (get_status, _, get_body) = get_raw(
            f.addr(),
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        assert_eq!(status, get_status, "{path}");
        assert!(body.is_empty(), "{path}: a body after HEAD");
        assert!(headers.contains("Content-Length:"), "{path}: {headers}");
        if path == "/" {
            // The length the GET's body has (the page does not change).
            let want = format!("Content-Length: {}", get_body.len());
            assert!(headers.contains(&want), "{headers}");
        }
    }
    // The streams' heads, without the streams.
    let (status, headers, body) = get_raw(f.addr(), b"HEAD /events HTTP/1.1\r\n\r\n");
    assert!(status.contains("200") && headers.contains("text/event-stream") && body.is_empty());
    // The same head as the GET's (one function writes both).
    let (_, headers, body) = get_raw(f.addr(), b"HEAD /stream.mjpg HTTP/1.1\r\n\r\n");
    assert!(
        headers.contains("multipart/x-mixed-replace") && headers.contains("no-store"),
        "{headers}"
    );
    assert!(body.is_empty());
    if let Some(out) = curl(&["-sS", "-I", &format!("http://{}/health", f.addr())]) {
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(out.contains("Content-Type: application/json"), "{out}");
    }
}

#[test]
fn other_methods_get_405_with_allow_and_json_has_cors() {
    let f = Feeder::start();
    std::thread::sleep(Duration::from_millis(100));
    let (status, headers, _) = get_raw(f.addr(), b"POST /pose HTTP/1.1\r\n\r\n");
    assert!(status.contains("405"), "{status}");
    assert!(headers.contains("Allow: GET, HEAD"), "{headers}");
    for path in ["/pose", "/health"] {
        let (_, headers, _) = get_raw(f.addr(), format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes());
        assert!(
            headers.contains("Access-Control-Allow-Origin: *"),
            "{path}: {headers}"
        );
    }
    let url = format!("http://{}/pose", f.addr());
    if let Some(out) = curl(&["-sS", "-i", "-X", "DELETE", &url]) {
        assert!(
            out.starts_with("HTTP/1.1 405") && out.contains("Allow: GET, HEAD"),
            "{out}"
        );
    }
    if let Some(out) = curl(&["-sS", "-i", "-H", "Origin: http://dashboard.example", &url]) {
        assert!(out.contains("Access-Control-Allow-Origin: *"), "{out}");
    }
}

#[test]
fn events_send_the_current_stats_at_once() {
    // No feeder: stats published once, long before the client connects; nothing after.
    let server = HttpServer::start("127.0.0.1:0", Hub::new()).unwrap();
    server.hub.publish_stats("{\"frames_output\":7}".into());
    let mut s = connect(server.addr);
    s.write_all(b"GET /events HTTP/1.1\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut got = vec![];
    let mut chunk = [0u8; 1024];
    let t = Instant::now();
    while !String::from_utf8_lossy(&got).contains("frames_output")
        && t.elapsed() < Duration::from_secs(2)
    {
        if let Ok(n) = s.read(&mut chunk) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("event: stats\ndata: {\"frames_output\":7}"),
        "{text}"
    );
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "waited {:?}",
        t.elapsed()
    );
}

#[test]
fn a_bare_port_for_http_says_addr_port() {
    let e = HttpServer::start("8080", Hub::new())
        .err()
        .expect("refused");
    let e = format!("{e:#}");
    assert!(
        e.contains("ADDR:PORT") && e.contains("127.0.0.1:8080"),
        "{e}"
    );
}

#[test]
fn health_answers_when_every_client_slot_is_held_by_stalled_requests() {
    let f = Feeder::start();
    // 32 connections that send half a request and stall: every client slot is taken.
    let stalled: Vec<TcpStream> = (0..lm::stream::http::MAX_CLIENTS)
        .map(|_| {
            let mut s = connect(f.addr());
            s.write_all(b"GET /stream.mjpg HT").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (status, _, body) = get(f.addr(), "/health");
    assert!(status.contains("200"), "{status}");
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["clients"], lm::stream::http::MAX_CLIENTS);
    // Anything else still gets 503 while the slots are held.
    let (status, _, _) = get(f.addr(), "/pose");
    assert!(status.contains("503"), "{status}");
    drop(stalled);
}

#[test]
fn health_is_stale_when_no_frame_comes() {
    let server = HttpServer::start(
        "127.0.0.1:0",
        Hub::with_stale_after(Duration::from_millis(300)),
    )
    .unwrap();
    let health = |addr| {
        let (status, _, body) = get(addr, "/health");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (status, v)
    };
    let (status, v) = health(server.addr);
    assert!(
        status.contains("200") && v["status"] == "starting",
        "{status} {v}"
    );
    server.hub.publish_pose("{\"frame\":0}".into());
    let (status, v) = health(server.addr);
    assert!(
        status.contains("200") && v["status"] == "ok",
        "{status} {v}"
    );
    assert!(v["last_frame_age_s"].as_f64().unwrap() < 0.3, "{v}");
    std::thread::sleep(Duration::from_millis(500));
    let (status, v) = health(server.addr);
    assert!(
        status.contains("503") && v["status"] == "stale",
        "{status} {v}"
    );
    assert!(v["last_frame_age_s"].as_f64().unwrap() >= 0.5, "{v}");
}

#[test]
fn a_request_trickled_byte_by_byte_is_cut_off_at_the_read_timeout() {
    let f = Feeder::start();
    let mut s = connect(f.addr());
    let t = Instant::now();
    // One byte every 400 ms: each read would wait less than its timeout, forever.
    let mut answer = vec![];
    for b in b"GET /pose HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(400));
        if t.elapsed() > lm::stream::http::READ_TIMEOUT + Duration::from_secs(1) {
            break;
        }
    }
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        t.elapsed() < lm::stream::http::READ_TIMEOUT + Duration::from_secs(2),
        "held {:?}",
        t.elapsed()
    );
}

//! The real binary, killed and restarted: what was confirmed is never lost.
//! On the test's database: SQLite, or PostgreSQL when the suite runs on it;
//! the power-cut tests always on SQLite, through the `soporte-powerloss`
//! library (docs/RELIABILITY.md §4).

use crate::helpers::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A `soporte serve` child process.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(db: &TestDb, files: &Path) -> Server {
        Server::start_on(&db.url_text(), files, &[])
    }

    /// On the database at `database_url`, with more environment variables.
    fn start_on(database_url: &str, files: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_soporte"));
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--msg-rate", "0"])
            .arg("--database-url")
            .arg(database_url)
            .arg("--storage")
            .arg(files)
            .env("SOPORTE_JWT_SECRET", SECRET)
            .env("SOPORTE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the soporte binary starts");
        let addr = listening_addr(&mut child);
        Server { child, addr }
    }

    /// SIGKILL: no chance to finish anything.
    fn kill(self) {}
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every message of the ticket, oldest first, over REST; `Err` with the
/// status when the ticket cannot be read (it is gone).
async fn full_history(addr: &str, ticket: i64, token: &str) -> Result<Vec<Value>, String> {
    let http = reqwest::Client::new();
    let mut all = Vec::new();
    let mut page = 1;
    // Pages after the first are read under a `before` cursor fixed by the
    // first: a client may still be resending while the history is read, and
    // pages counted from the newest would shift under it.
    let mut cursor = String::new();
    loop {
        let response = http
            .get(format!(
                "http://{addr}/api/soporte/tickets/{ticket}/chat/historial/?page={page}&size=100{cursor}"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if !response.status().is_success() {
            return Err(format!("history of ticket {ticket}: {}", response.status()));
        }
        let body: Value = response.json().await.unwrap();
        let mut results = body["results"].as_array().unwrap().clone();
        if page == 1 {
            if let Some(newest) = results.last().and_then(|m| m["seq"].as_i64()) {
                cursor = format!("&before={}", newest + 1);
            }
        }
        results.extend(all);
        all = results;
        if body["next"].is_null() {
            return Ok(all);
        }
        page += 1;
    }
}

/// Random choices a failing run can replay: the seed comes from
/// `SOPORTE_CRASH_SEED` when set, and is printed.
struct Rng(u64);

impl Rng {
    fn from_env(test: &str) -> Rng {
        let seed = std::env::var("SOPORTE_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let mut bytes = [0u8; 8];
                getrandom::fill(&mut bytes).unwrap();
                u64::from_le_bytes(bytes)
            });
        eprintln!("{test}: seed {seed} (replay with SOPORTE_CRASH_SEED={seed})");
        Rng(seed)
    }

    /// SplitMix64.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

/// When a round's server is killed.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// Once this many more confirmations have arrived (or nothing is left
    /// in flight).
    Confirmations(usize),
    /// This long after the round started sending.
    Delay(Duration),
    /// The server kills itself right after its n-th write, sync or new name
    /// in its data folder (the `soporte-powerloss` library's crash point).
    IoStep(u64),
}

impl KillAt {
    fn random(rng: &mut Rng, messages: usize) -> KillAt {
        if rng.below(2) == 0 {
            KillAt::Confirmations(rng.below(messages as u64 + 1) as usize)
        } else {
            KillAt::Delay(Duration::from_millis(rng.below(150)))
        }
    }

    /// As [`KillAt::random`], or (one time in two) at a random I/O step:
    /// a moment inside a commit that a signal from outside rarely hits.
    fn random_or_io_step(rng: &mut Rng, messages: usize) -> KillAt {
        if rng.below(2) == 0 {
            KillAt::IoStep(1 + rng.below(3 * messages as u64 + 1))
        } else {
            KillAt::random(rng, messages)
        }
    }
}

/// `id` and `seq` a message was confirmed with.
type Confirmation = (i64, i64);

/// An upload the server answered 201 to.
struct ConfirmedUpload {
    mensaje_id: i64,
    file_id: i64,
    bytes: Vec<u8>,
}

/// A customer's client that behaves as PROTOCOL.md §2.7 and RELIABILITY.md
/// §6 ask: every message is kept with its `client_id` until confirmed and
/// resent on every connection, and it resumes with `since`, `epoch` and
/// `since_id` from the messages the room gave it. It remembers every
/// confirmation, to hold the server to them.
struct ChatClient {
    ticket: i64,
    token: String,
    /// Every `client_id` ever typed, in order.
    typed: Vec<String>,
    confirmed: HashMap<String, Confirmation>,
    /// The ticket as the room told it: `seq` -> `id`.
    held: BTreeMap<i64, i64>,
    epoch: Option<String>,
    uploads: Vec<ConfirmedUpload>,
}

fn text_of(client_id: &str) -> String {
    format!("mensaje {client_id}")
}

impl ChatClient {
    async fn new(addr: &str) -> ChatClient {
        let token = customer(1);
        ChatClient {
            ticket: create_ticket_at(addr, &token, "durabilidad").await,
            token,
            typed: Vec::new(),
            confirmed: HashMap::new(),
            held: BTreeMap::new(),
            epoch: None,
            uploads: Vec::new(),
        }
    }

    /// Connects, resuming from what it holds; the history must be this one.
    async fn connect(&mut self, addr: &str) -> WsClient {
        let mut url = format!(
            "ws://{addr}/ws/soporte/ticket/{}/?token={}",
            self.ticket, self.token
        );
        if let Some((since, id)) = self.held.last_key_value() {
            url.push_str(&format!("&since={since}&since_id={id}"));
            if let Some(epoch) = &self.epoch {
                url.push_str(&format!("&epoch={epoch}"));
            }
        }
        let mut ws = open_socket(&url).await;
        let hello = ws.expect("connection_established").await;
        assert_ne!(hello["resync"], true, "told to resync: {hello}");
        self.epoch = hello["epoch"].as_str().map(String::from);
        for message in hello["historial_reciente"].as_array().unwrap() {
            self.hear(message);
        }
        ws
    }

    fn hear(&mut self, message: &Value) {
        let (seq, id) = (
            message["seq"].as_i64().unwrap(),
            message["id"].as_i64().unwrap(),
        );
        if let Some(before) = self.held.insert(seq, id) {
            assert_eq!(before, id, "seq {seq} was message {before}, now {id}");
        }
    }

    /// Takes in one frame from the server.
    fn take(&mut self, frame: &Value) {
        let data = &frame["data"];
        match frame["tipo"].as_str() {
            Some("mensaje_confirmado") => {
                let client_id = data["client_id"].as_str().unwrap().to_string();
                let now = (
                    data["mensaje_id"].as_i64().unwrap(),
                    data["seq"].as_i64().unwrap(),
                );
                if let Some(before) = self.confirmed.insert(client_id.clone(), now) {
                    assert_eq!(before, now, "{client_id} confirmed twice, differently");
                }
            }
            Some("mensaje_recibido") => self.hear(data),
            Some("error") => panic!("unexpected error: {frame}"),
            _ => {}
        }
    }

    fn unconfirmed(&self) -> Vec<String> {
        self.typed
            .iter()
            .filter(|id| !self.confirmed.contains_key(*id))
            .cloned()
            .collect()
    }

    /// Types `count` new messages (sent later, with the unconfirmed ones).
    fn type_messages(&mut self, count: usize) {
        let start = self.typed.len();
        self.typed
            .extend((start..start + count).map(|n| format!("k{n}")));
    }

    /// Sends every unconfirmed message, a few at a time with several in
    /// flight, reading confirmations between; then `kill` runs at the moment
    /// `at` says, while messages are still being sent or committed, and the
    /// frames the server got out before it died are read.
    async fn stream_then(
        &mut self,
        ws: &mut WsClient,
        rng: &mut Rng,
        at: KillAt,
        kill: impl FnOnce(),
    ) {
        let started = Instant::now();
        let confirmed_before = self.confirmed.len();
        let mut queue = self.unconfirmed().into_iter();
        let (mut sending, mut open) = (true, true);
        while open {
            let due = match at {
                KillAt::Confirmations(n) => self.confirmed.len() - confirmed_before >= n,
                KillAt::Delay(delay) => started.elapsed() >= delay,
                // The server dies by itself.
                KillAt::IoStep(_) => false,
            };
            if due || (!sending && self.unconfirmed().is_empty()) {
                break;
            }
            if sending {
                for _ in 0..=rng.below(16) {
                    let Some(client_id) = queue.next() else {
                        sending = false;
                        break;
                    };
                    let frame = json!({
                        "tipo": "mensaje",
                        "data": {"mensaje": text_of(&client_id), "timestamp": "2024-09-20T17:30:00Z", "client_id": client_id, "metadata": {}}
                    });
                    let sent = ws.stream.send(WsMessage::Text(frame.to_string().into()));
                    if sent.await.is_err() {
                        open = false;
                        break;
                    }
                }
            }
            loop {
                match ws.next_frame_within(Duration::from_millis(1)).await {
                    Ok(Some(frame)) => self.take(&frame),
                    Ok(None) => break,
                    Err(_closed) => {
                        open = false;
                        break;
                    }
                }
            }
        }
        kill();
        // What the server got out before it died.
        while open {
            match ws.next_frame_within(Duration::from_secs(10)).await {
                Ok(Some(frame)) => self.take(&frame),
                Ok(None) => panic!("the socket outlived the server"),
                Err(_closed) => open = false,
            }
        }
    }

    /// Resends every unconfirmed message and waits until all are confirmed.
    async fn settle(&mut self, ws: &mut WsClient) {
        for client_id in self.unconfirmed() {
            ws.send_message(&text_of(&client_id), &client_id).await;
        }
        while !self.unconfirmed().is_empty() {
            match ws.next_frame_within(Duration::from_secs(20)).await {
                Ok(Some(frame)) => self.take(&frame),
                Ok(None) => panic!("{} still unconfirmed", self.unconfirmed().len()),
                Err(closed) => panic!("socket closed: {closed:?}"),
            }
        }
    }

    /// Uploads a PDF of `size` random bytes over the files API; keeps it if
    /// the server answers 201.
    async fn upload(&mut self, ws: &mut WsClient, addr: &str, rng: &mut Rng, size: usize) {
        let mut bytes = b"%PDF-1.7\n".to_vec();
        bytes.extend((bytes.len()..size).map(|_| rng.next() as u8));
        ws.send_json(json!({"tipo": "file_upload_request", "data": {"nombre_archivo": "informe.pdf", "tamaño": bytes.len(), "tipo_mime": "application/pdf"}}))
            .await;
        let grant = loop {
            let frame = ws.next_frame().await;
            if frame["tipo"] == "file_upload_authorized" {
                break frame["data"].clone();
            }
            self.take(&frame);
        };
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name("informe.pdf"),
        );
        let mut request = reqwest::Client::new()
            .post(grant["upload_url"].as_str().unwrap())
            .multipart(form);
        for (name, value) in grant["headers"].as_object().unwrap() {
            request = request.header(name, value.as_str().unwrap());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 201, "upload to {addr}");
        let body: Value = response.json().await.unwrap();
        self.uploads.push(ConfirmedUpload {
            mensaje_id: body["mensaje_id"].as_i64().unwrap(),
            file_id: body["id"].as_i64().unwrap(),
            bytes,
        });
    }

    /// What is wrong with the history the server at `addr` keeps, measured
    /// against what it confirmed: a confirmed message or upload missing, or
    /// stored with another id or `seq`; a `client_id` stored twice; a
    /// message nobody sent; `seq` not 1, 2, 3, … without gaps; an
    /// attachment whose bytes differ.
    async fn problems(&self, addr: &str) -> Vec<String> {
        let history = match full_history(addr, self.ticket, &self.token).await {
            Ok(history) => history,
            Err(unreadable) => {
                let mut problems = vec![unreadable];
                problems.extend(self.confirmed.keys().map(|k| format!("confirmed {k} lost")));
                return problems;
            }
        };
        let mut problems = Vec::new();
        let seqs: Vec<i64> = history.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        if seqs != (1..=seqs.len() as i64).collect::<Vec<_>>() {
            problems.push(format!("seq is not 1..={}: {seqs:?}", seqs.len()));
        }
        let mut stored: HashMap<&str, Vec<Confirmation>> = HashMap::new();
        for message in &history {
            if let Some(client_id) = message["client_id"].as_str() {
                stored.entry(client_id).or_default().push((
                    message["id"].as_i64().unwrap(),
                    message["seq"].as_i64().unwrap(),
                ));
            }
        }
        for (client_id, copies) in &stored {
            if copies.len() > 1 {
                problems.push(format!(
                    "{client_id} stored {} times: {copies:?}",
                    copies.len()
                ));
            }
            if !self.typed.iter().any(|typed| typed == client_id) {
                problems.push(format!("{client_id} stored but never sent"));
            }
        }
        for (client_id, confirmed) in &self.confirmed {
            match stored.get(client_id.as_str()) {
                None => problems.push(format!("confirmed {client_id} {confirmed:?} lost")),
                Some(copies) if copies[0] != *confirmed => problems.push(format!(
                    "{client_id} confirmed as {confirmed:?}, stored as {:?}",
                    copies[0]
                )),
                Some(_) => {}
            }
        }
        let http = reqwest::Client::new();
        for upload in &self.uploads {
            let attachment = history
                .iter()
                .filter(|m| m["id"] == upload.mensaje_id)
                .flat_map(|m| m["archivos"].as_array().cloned().unwrap_or_default())
                .find(|file| file["id"] == upload.file_id);
            let Some(attachment) = attachment else {
                problems.push(format!("lost upload {} (confirmed)", upload.file_id));
                continue;
            };
            let response = http
                .get(attachment["url"].as_str().unwrap())
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let bytes = response.bytes().await.unwrap();
            if status != 200 || bytes.as_ref() != upload.bytes.as_slice() {
                problems.push(format!(
                    "upload {}: {status}, {} bytes of {} kept",
                    upload.file_id,
                    bytes.len(),
                    upload.bytes.len()
                ));
            }
        }
        problems
    }

    /// The end of every story: all typed messages confirmed, each stored
    /// once with the id and `seq` it was confirmed with, and a resume from
    /// the start brings exactly the stored history.
    async fn finish(&mut self, addr: &str) {
        let mut ws = self.connect(addr).await;
        self.settle(&mut ws).await;
        ws.close().await;
        let history = full_history(addr, self.ticket, &self.token).await.unwrap();
        let problems = self.problems(addr).await;
        assert!(problems.is_empty(), "{problems:#?}");
        let with_client_id = history.iter().filter(|m| !m["client_id"].is_null()).count();
        assert_eq!(
            with_client_id,
            self.typed.len(),
            "every typed message stored"
        );
        // What the room told the client is what is stored...
        let stored: BTreeMap<i64, i64> = history
            .iter()
            .map(|m| (m["seq"].as_i64().unwrap(), m["id"].as_i64().unwrap()))
            .collect();
        for (seq, id) in &self.held {
            assert_eq!(
                stored.get(seq),
                Some(id),
                "the room said seq {seq} was {id}"
            );
        }
        // ...and a resume from the start brings all of it, once, in order.
        let mut ws = open_socket(&format!(
            "ws://{addr}/ws/soporte/ticket/{}/?token={}&since=0",
            self.ticket, self.token
        ))
        .await;
        let hello = ws.expect("connection_established").await;
        let pair = |m: &Value| (m["seq"].as_i64().unwrap(), m["id"].as_i64().unwrap());
        let mut resumed: Vec<(i64, i64)> = hello["historial_reciente"]
            .as_array()
            .unwrap()
            .iter()
            .map(pair)
            .collect();
        while resumed.len() < history.len() {
            resumed.push(pair(&ws.expect("mensaje_recibido").await));
        }
        assert_eq!(resumed, stored.into_iter().collect::<Vec<_>>());
        ws.close().await;
    }
}

fn assert_no_problems(problems: &[String], when: &str) {
    assert!(problems.is_empty(), "{when}: {problems:#?}");
}

#[tokio::test]
async fn kill_9_right_after_confirmations_loses_no_confirmed_message() {
    let (db, files) = (TestDb::new().await, tempfile::tempdir().unwrap());
    let server = Server::start(&db, files.path());
    let mut client = ChatClient::new(&server.addr).await;
    let mut ws = client.connect(&server.addr).await;
    // 400 in flight at once; SIGKILL after the 150th confirmation.
    client.type_messages(400);
    for client_id in client.unconfirmed() {
        ws.send_message(&text_of(&client_id), &client_id).await;
    }
    while client.confirmed.len() < 150 {
        let frame = ws.next_frame().await;
        assert_eq!(frame["tipo"], "mensaje_confirmado", "{frame}");
        client.take(&frame);
    }
    server.kill();
    drop(ws);

    let restarted = Server::start(&db, files.path());
    assert_no_problems(&client.problems(&restarted.addr).await, "after the restart");
    // The client's retry of everything it never saw confirmed completes the set once.
    client.finish(&restarted.addr).await;
    restarted.kill();
}

#[tokio::test]
async fn repeated_sigkills_at_random_moments_lose_no_confirmed_message_and_store_none_twice() {
    let mut rng = Rng::from_env("repeated_sigkills");
    let (db, files) = (TestDb::new().await, tempfile::tempdir().unwrap());
    let mut server = Server::start(&db, files.path());
    let mut client = ChatClient::new(&server.addr).await;
    for round in 0..8 {
        let mut ws = client.connect(&server.addr).await;
        client.type_messages(20 + rng.below(100) as usize);
        let at = KillAt::random(&mut rng, client.unconfirmed().len());
        client
            .stream_then(&mut ws, &mut rng, at, || server.kill())
            .await;
        server = Server::start(&db, files.path());
        eprintln!(
            "round {round}: killed at {at:?}; {} typed, {} confirmed",
            client.typed.len(),
            client.confirmed.len()
        );
        assert_no_problems(
            &client.problems(&server.addr).await,
            &format!("round {round}"),
        );
    }
    client.finish(&server.addr).await;
    server.kill();
}

/// The `soporte-powerloss` library and its restore tool, built beside the
/// binary under test by `cargo build -p soporte-powerloss` (or
/// `cargo build --workspace`; scripts/test does it before the tests): a
/// test build does not make them, as no test target depends on them.
fn powerloss_tools() -> (PathBuf, PathBuf) {
    // Files only: a folder's time changes with files cargo ignores.
    fn newest(path: &Path) -> std::time::SystemTime {
        let meta = std::fs::metadata(path).unwrap();
        if !meta.is_dir() {
            return meta.modified().unwrap();
        }
        std::fs::read_dir(path)
            .unwrap()
            .map(|entry| newest(&entry.unwrap().path()))
            .max()
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
    }
    let built = Path::new(env!("CARGO_BIN_EXE_soporte")).parent().unwrap();
    let library = built.join("libsoporte_powerloss.so");
    let restore = built.join("soporte-powerloss-restore");
    let source = newest(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../powerloss"));
    // Cargo rebuilds only the one a change touches: the newer of the two
    // must be at least as new as the sources.
    let built = [&library, &restore].map(|tool| {
        std::fs::metadata(tool)
            .and_then(|meta| meta.modified())
            .ok()
    });
    let fresh = match built {
        [Some(library), Some(restore)] => library.max(restore) >= source,
        _ => false,
    };
    assert!(
        fresh,
        "{} or {} is missing or older than crates/powerloss: run `cargo build -p soporte-powerloss`",
        library.display(),
        restore.display()
    );
    (library, restore)
}

/// A disk that loses power: the data folder (database and attachments) of
/// a server run under the `soporte-powerloss` library, which journals every
/// write that no fsync has made durable yet; [`PowerCut::cut`] takes those
/// away after the server is killed.
struct PowerCut {
    dir: tempfile::TempDir,
    library: PathBuf,
    restore: PathBuf,
    runs: usize,
}

impl PowerCut {
    fn new() -> PowerCut {
        let (library, restore) = powerloss_tools();
        let dir = tempfile::tempdir().unwrap();
        // Folders the server is given exist, and are durable, beforehand.
        std::fs::create_dir_all(dir.path().join("data/sqlite")).unwrap();
        std::fs::create_dir_all(dir.path().join("data/files")).unwrap();
        PowerCut {
            dir,
            library,
            restore,
            runs: 0,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn journal(&self) -> PathBuf {
        self.dir.path().join(format!("journal-{}", self.runs))
    }

    /// The file whose existence starts the count to this run's crash point.
    fn armed(&self) -> PathBuf {
        self.dir.path().join(format!("armed-{}", self.runs))
    }

    /// Starts the server on this disk; `lying` makes fsync and fdatasync
    /// report success and do nothing, as a disk that lies about its cache;
    /// with [`KillAt::IoStep`] it dies by itself at that step once
    /// [`PowerCut::arm`] is called.
    fn start(&self, lying: bool, at: Option<KillAt>) -> Server {
        let data = self.data();
        let journal = self.journal();
        let armed = self.armed();
        let step = match at {
            Some(KillAt::IoStep(step)) => step.to_string(),
            _ => String::new(),
        };
        let mut env = vec![
            ("LD_PRELOAD", self.library.as_os_str()),
            ("SOPORTE_POWERLOSS_DIRS", data.as_os_str()),
            ("SOPORTE_POWERLOSS_JOURNAL", journal.as_os_str()),
        ];
        if lying {
            env.push(("SOPORTE_POWERLOSS_MODE", "lying-fsync".as_ref()));
        }
        if !step.is_empty() {
            env.push(("SOPORTE_POWERLOSS_KILL_AFTER", step.as_ref()));
            env.push(("SOPORTE_POWERLOSS_ARMED", armed.as_os_str()));
        }
        let database = format!("sqlite://{}", data.join("sqlite/soporte.db").display());
        Server::start_on(&database, &data.join("files"), &env)
    }

    /// From now on the server counts its I/O steps to the crash point.
    fn arm(&self) {
        std::fs::write(self.armed(), b"").unwrap();
    }

    /// The power cut, once the server is dead: every change it never made
    /// durable is undone. Returns what the restore tool saw and did.
    fn cut(&mut self) -> String {
        let output = Command::new(&self.restore)
            .arg(self.journal())
            .arg(self.data())
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        self.runs += 1;
        String::from_utf8(output.stdout).unwrap()
    }
}

/// How many records of `what` (`pwrite64 soporte.db-wal`) a restore saw.
fn seen(report: &str, what: &str) -> u64 {
    report
        .lines()
        .find_map(|line| line.strip_prefix(&format!("seen {what} ")))
        .map_or(0, |count| count.parse().unwrap())
}

#[tokio::test]
async fn a_power_cut_after_sigkill_loses_no_confirmed_message_or_upload() {
    if std::env::var_os(POSTGRES_ENV).is_some() {
        eprintln!("SKIPPED on PostgreSQL: the power cut is modelled for SQLite's files (it ran in the SQLite pass)");
        return;
    }
    let mut rng = Rng::from_env("power_cut");
    let mut disk = PowerCut::new();
    let mut at = KillAt::random_or_io_step(&mut rng, 60);
    let mut server = disk.start(false, Some(at));
    let mut client = ChatClient::new(&server.addr).await;
    for round in 0..8 {
        let mut ws = client.connect(&server.addr).await;
        let size = 1 + rng.below(200_000) as usize;
        client.upload(&mut ws, &server.addr, &mut rng, size).await;
        client.type_messages(20 + rng.below(100) as usize);
        disk.arm();
        client
            .stream_then(&mut ws, &mut rng, at, || server.kill())
            .await;
        let report = disk.cut();
        eprintln!(
            "round {round}: killed at {at:?}; {} typed, {} confirmed; restore:\n{report}",
            client.typed.len(),
            client.confirmed.len()
        );
        if round == 0 {
            // SQLite inside the binary writes and syncs through the library:
            // the WAL with pwrite64 and fdatasync (or fsync), its folder
            // synced when the WAL was created; uploads with write and fsync.
            assert!(seen(&report, "pwrite64 soporte.db-wal") > 0, "{report}");
            assert!(
                seen(&report, "fdatasync soporte.db-wal") + seen(&report, "fsync soporte.db-wal")
                    > 0,
                "{report}"
            );
            assert!(
                seen(&report, "fdatasync sqlite") + seen(&report, "fsync sqlite") > 0,
                "{report}"
            );
            assert!(seen(&report, "fsync <random>") > 0, "{report}");
        }
        at = KillAt::random_or_io_step(&mut rng, 60);
        server = disk.start(false, Some(at));
        assert_no_problems(
            &client.problems(&server.addr).await,
            &format!("round {round}"),
        );
    }
    client.finish(&server.addr).await;
    server.kill();
}

#[tokio::test]
async fn when_fsync_lies_the_power_cut_check_finds_every_message_confirmed_since_lost() {
    if std::env::var_os(POSTGRES_ENV).is_some() {
        eprintln!("SKIPPED on PostgreSQL: the power cut is modelled for SQLite's files (it ran in the SQLite pass)");
        return;
    }
    let mut rng = Rng::from_env("lying_fsync");
    let mut disk = PowerCut::new();
    // An honest run first: the ticket and 30 messages are durable.
    let server = disk.start(false, None);
    let mut client = ChatClient::new(&server.addr).await;
    let mut ws = client.connect(&server.addr).await;
    client.type_messages(30);
    client.settle(&mut ws).await;
    drop(ws);
    server.kill();
    disk.cut();
    // Then fsync lies: what is confirmed from here on is not on the disk.
    let server = disk.start(true, None);
    let honest: Vec<String> = client.confirmed.keys().cloned().collect();
    let mut ws = client.connect(&server.addr).await;
    client.upload(&mut ws, &server.addr, &mut rng, 50_000).await;
    client.type_messages(100);
    client
        .stream_then(&mut ws, &mut rng, KillAt::Confirmations(60), || {
            server.kill()
        })
        .await;
    disk.cut();
    let server = disk.start(false, None);
    let problems = client.problems(&server.addr).await;
    let mut lost: Vec<&str> = problems
        .iter()
        .filter_map(|p| p.strip_prefix("confirmed "))
        .filter_map(|p| p.strip_suffix(" lost"))
        .filter_map(|p| p.split_whitespace().next())
        .collect();
    lost.sort_unstable();
    let mut expected: Vec<&str> = client
        .confirmed
        .keys()
        .filter(|k| !honest.contains(k))
        .map(String::as_str)
        .collect();
    expected.sort_unstable();
    eprintln!("the check found {} problems: {problems:#?}", problems.len());
    assert!(expected.len() >= 60, "{expected:?}");
    assert_eq!(
        lost, expected,
        "exactly the messages confirmed while fsync lied are lost"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("lost upload")),
        "the upload confirmed while fsync lied is lost: {problems:#?}"
    );
    server.kill();
}

#[tokio::test]
async fn sigterm_finishes_in_flight_commits_and_closes_sockets_with_1001() {
    let (db, files) = (TestDb::new().await, tempfile::tempdir().unwrap());
    let mut server = Server::start(&db, files.path());
    let token = customer(1);
    let ticket = create_ticket_at(&server.addr, &token, "durabilidad").await;
    let mut ws = connect_at(&server.addr, ticket, &token).await;
    ws.expect("connection_established").await;
    for n in 0..50 {
        ws.send_message(&format!("m{n}"), &format!("t{n}")).await;
    }
    ws.expect("mensaje_confirmado").await;
    Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    let mut confirmations = 1;
    let closed = loop {
        match ws.next_frame_within(Duration::from_secs(10)).await {
            Ok(Some(frame)) if frame["tipo"] == "mensaje_confirmado" => confirmations += 1,
            Ok(Some(frame)) => panic!("unexpected {frame}"),
            Ok(None) => panic!("not closed"),
            Err(closed) => break closed,
        }
    };
    assert_eq!(closed.code, Some(1001), "{closed:?}");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // Messages still unread in the socket when the signal came are neither
    // stored nor confirmed; everything the server took was committed AND
    // confirmed before the close: the two sets are the same.
    let restarted = Server::start(&db, files.path());
    let history = full_history(&restarted.addr, ticket, &token).await.unwrap();
    assert_eq!(history.len(), confirmations);
    restarted.kill();
}

#[tokio::test]
async fn after_migrate_new_epoch_a_client_resuming_from_the_old_history_is_told_to_resync() {
    let (db, files) = (TestDb::new().await, tempfile::tempdir().unwrap());
    let server = Server::start(&db, files.path());
    let token = customer(1);
    let ticket = create_ticket_at(&server.addr, &token, "durabilidad").await;
    let mut ws = connect_at(&server.addr, ticket, &token).await;
    let epoch = ws.expect("connection_established").await["epoch"]
        .as_str()
        .unwrap()
        .to_string();
    ws.send_message("uno", "k1").await;
    let confirmed = ws.expect("mensaje_confirmado").await;
    drop(ws);
    server.kill();

    // The operator restored a backup and renews the epoch.
    let output = Command::new(env!("CARGO_BIN_EXE_soporte"))
        .args(["migrate", "--new-epoch", "--database-url"])
        .arg(db.url_text())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout);
    let renewed = printed
        .lines()
        .find_map(|l| l.strip_prefix("new epoch: "))
        .unwrap_or_else(|| panic!("{printed}"))
        .to_string();
    assert_ne!(renewed, epoch);

    let server = Server::start(&db, files.path());
    let url = format!(
        "ws://{}/ws/soporte/ticket/{ticket}/?token={token}&since=1&epoch={epoch}&since_id={}",
        server.addr, confirmed["mensaje_id"]
    );
    let (stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut resumed = WsClient { stream };
    let hello = resumed.expect("connection_established").await;
    assert_eq!(hello["resync"], true);
    assert_eq!(hello["epoch"], renewed.as_str());
    assert_eq!(hello["historial_reciente"][0]["contenido"], "uno");
    server.kill();
}
